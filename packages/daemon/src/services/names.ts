/** Docker-like generated names ("brave_turing") and "did you mean" suggestions. */
import { randomInt } from "node:crypto";

const adjectives = [
  "admiring",
  "agile",
  "amazing",
  "bold",
  "brave",
  "calm",
  "clever",
  "cool",
  "dazzling",
  "eager",
  "elegant",
  "epic",
  "fervent",
  "festive",
  "focused",
  "friendly",
  "gallant",
  "gentle",
  "happy",
  "hopeful",
  "jolly",
  "keen",
  "kind",
  "laughing",
  "lucid",
  "magical",
  "modest",
  "nifty",
  "nostalgic",
  "optimistic",
  "peaceful",
  "quirky",
  "relaxed",
  "serene",
  "sharp",
  "stoic",
  "sweet",
  "tender",
  "trusting",
  "upbeat",
  "vibrant",
  "wizardly",
  "zealous",
];
const scientists = [
  "agnesi",
  "babbage",
  "bohr",
  "curie",
  "darwin",
  "dijkstra",
  "einstein",
  "euler",
  "feynman",
  "franklin",
  "galileo",
  "gauss",
  "goodall",
  "hamilton",
  "hopper",
  "hypatia",
  "johnson",
  "kepler",
  "knuth",
  "lamarr",
  "lovelace",
  "maxwell",
  "meitner",
  "newton",
  "noether",
  "pascal",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "wozniak",
  "yonath",
];

const pick = <T>(a: readonly T[]): T => a[randomInt(a.length)]!;

/** A fresh name not in `taken`. */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const name = `${pick(adjectives)}_${pick(scientists)}`;
    if (!taken(name)) return name;
  }
  for (;;) {
    const name = `${pick(adjectives)}_${pick(scientists)}${randomInt(1000)}`;
    if (!taken(name)) return name;
  }
}

/** The closest of `names` to `wanted`, when close enough to be a typo. */
export function suggest(wanted: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    const d = damerau(wanted, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(wanted.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function damerau(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
