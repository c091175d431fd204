/**
 * Extended attributes without a native addon: Node has no xattr API and the `attr` package (setfattr)
 * is not part of the base system, but perl-base is Essential on Debian and perl's `syscall` reaches
 * lsetxattr(2)/lgetxattr(2) directly. One perl process applies a whole batch, fed on stdin, so a layer
 * costs one spawn. The l* calls never follow a final symlink.
 */
import type { CommandRunner } from "../../system/command.js";

/** lsetxattr, lgetxattr syscall numbers by Node's process.arch. */
const SYSCALLS: Record<string, { set: number; get: number }> = {
  x64: { set: 189, get: 192 },
  arm64: { set: 6, get: 9 },
  riscv64: { set: 6, get: 9 },
};

export interface XattrOp {
  readonly path: string;
  readonly name: string;
  readonly value: Buffer;
}

/** What the host can do with xattrs: `undefined` when this architecture's syscall numbers are unknown. */
export const xattrSyscalls = (arch: string = process.arch) => SYSCALLS[arch];

// Records are path NUL name NUL hex(value) NUL; failures are printed as path TAB name TAB strerror.
const SET_SCRIPT = `
my $nr = shift @ARGV; local $/ = "\\0"; my @f = <STDIN>; chomp @f;
for (my $i = 0; $i + 2 < @f; $i += 3) {
  my ($p, $n, $v) = ($f[$i], $f[$i + 1], pack("H*", $f[$i + 2]));
  my $len = length($v);
  if (syscall($nr, $p, $n, $v, $len, 0) != 0) { print "$p\\t$n\\t$!\\n"; }
}`;

/**
 * Sets each attribute with lsetxattr(2) in one perl process. Resolves to the failures
 * (EPERM for trusted.* when unprivileged, EOPNOTSUPP on filesystems without xattrs), one line each.
 */
export async function setXattrs(runner: CommandRunner, ops: readonly XattrOp[]): Promise<string[]> {
  if (ops.length === 0) return [];
  const nr = xattrSyscalls();
  if (!nr) return ops.map((o) => `${o.path}\t${o.name}\tno lsetxattr syscall number for ${process.arch}`);
  const input = Buffer.concat(
    ops.flatMap((o) => [Buffer.from(`${o.path}\0${o.name}\0`), Buffer.from(`${o.value.toString("hex")}\0`)]),
  );
  const { stdout } = await runner.run("perl", ["-e", SET_SCRIPT, String(nr.set)], { stdin: input });
  return stdout.split("\n").filter(Boolean);
}

const GET_SCRIPT = `
my ($nr, $p, $n) = @ARGV; my $buf = "\\0" x 65536;
my $r = syscall($nr, $p, $n, $buf, 65536);
if ($r < 0) { print STDERR "$!\\n"; exit 1; }
print unpack("H*", substr($buf, 0, $r));`;

/** One attribute's value via lgetxattr(2), or undefined when it is not set (for tests and checks). */
export async function getXattr(runner: CommandRunner, path: string, name: string): Promise<Buffer | undefined> {
  const nr = xattrSyscalls();
  if (!nr) return undefined;
  try {
    const { stdout } = await runner.run("perl", ["-e", GET_SCRIPT, String(nr.get), path, name]);
    return Buffer.from(stdout.trim(), "hex");
  } catch {
    return undefined;
  }
}
