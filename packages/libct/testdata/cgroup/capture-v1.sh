#!/bin/sh
# Captures the v1 fixtures in testdata/cgroup/v1/ from a real cgroup v1 (hybrid) host. Run as root:
#   sh packages/libct/testdata/cgroup/capture-v1.sh
# idle/: a fresh cgroup with no limits and no processes (unlimited memory, pids.max "max").
# busy/: limits set (memory 512 MiB, pids 64, cpu 50 ms per 100 ms), then a shell that burns CPU,
#        allocates a 64 MiB buffer, writes 8 MiB with O_DIRECT to the root disk and reads it back.
#        A 4 MiB buffered write leaves some page cache charged to the cgroup.
# unified/ holds the same busy shell's cgroup in the hybrid cgroup2 mount (/sys/fs/cgroup/unified).
set -eu
root=/sys/fs/cgroup
name=berth-fixture
out=$(cd "$(dirname "$0")" && pwd)/v1
ctls="memory cpu cpuacct pids blkio"
data=/var/tmp/berth-fixture.dat

copy() { # copy <src dir> <dest dir>: every readable regular file, as the kernel prints it
  mkdir -p "$2"
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    cat "$f" >"$2/$(basename "$f")" 2>/dev/null || rm -f "$2/$(basename "$f")"
  done
}

rm -rf "$out/idle" "$out/busy"
for c in $ctls unified; do mkdir "$root/$c/$name"; done
for c in $ctls; do copy "$root/$c/$name" "$out/idle/$c"; done

echo 536870912 >"$root/memory/$name/memory.limit_in_bytes"
echo 64 >"$root/pids/$name/pids.max"
echo 50000 >"$root/cpu/$name/cpu.cfs_quota_us"
# Since Linux 6.x, v1 blkio.throttle.* counters stay at "Total 0" unless the throttle policy is active on
# the device; a generous rule (1 GiB/s) on the root disk activates it without slowing anything down.
disk=$(stat -c '%Hd:%Ld' /var/tmp) # the root disk here (254:0, not a partition)
echo "$disk 1073741824" >"$root/blkio/$name/blkio.throttle.write_bps_device"
echo "$disk 1073741824" >"$root/blkio/$name/blkio.throttle.read_bps_device"

marker=$(mktemp)
sh -c '
  for c in '"$ctls"' unified; do echo $$ >'"$root"'/$c/'"$name"'/cgroup.procs; done
  i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done
  dd if=/dev/zero of=/dev/null bs=64M count=2 2>/dev/null
  dd if=/dev/zero of='"$data"' bs=1M count=8 oflag=direct 2>/dev/null
  dd if='"$data"' of=/dev/null bs=1M iflag=direct 2>/dev/null
  dd if=/dev/zero of='"$data"'.cache bs=1M count=4 2>/dev/null
  echo done >'"$marker"'
  exec sleep 30
' &
pid=$!
while [ ! -s "$marker" ]; do sleep 0.1; done
for c in $ctls unified; do copy "$root/$c/$name" "$out/busy/$c"; done

kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$data" "$data.cache" "$marker"
for c in $ctls unified; do rmdir "$root/$c/$name"; done
cat "$root/cpuset/cpuset.cpus" >"$out/cpuset.cpus"
echo "captured into $out"
