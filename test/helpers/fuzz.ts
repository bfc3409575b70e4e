/**
 * Generators of hostile CRI requests for the fuzz test: random and boundary values, huge strings and maps,
 * path traversal, NUL and odd Unicode, negative and overflowing numbers. Deterministic from a seed, so a failure
 * can be replayed.
 */
export class Rng {
  constructor(private state: number) {}
  next(): number {
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const NASTY_STRINGS = [
  '',
  '.',
  '..',
  '../../../../etc/passwd',
  '/etc/shadow',
  'a/b',
  'name\u0000nul',
  '\u202e\u0301\ud83d\ude00',
  ' ',
  '-rf',
  '$(reboot)',
  '`id`',
  'x'.repeat(300),
  'y'.repeat(70_000),
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'ffff',
  '%',
  '*',
];

const NASTY_NUMBERS = ['0', '-1', '1', '2147483647', '-2147483648', '9223372036854775807', '-9223372036854775808'];

export function nastyString(r: Rng): string {
  if (r.chance(0.3))
    return Math.random()
      .toString(36)
      .slice(2, 2 + r.int(12));
  return r.pick(NASTY_STRINGS);
}

export function nastyInt32(r: Rng): number {
  return r.pick([0, -1, 1, 2147483647, -2147483648, 65536, -65536]);
}

export function nastyInt64(r: Rng): string {
  return r.pick(NASTY_NUMBERS);
}

export function nastyMap(r: Rng): Record<string, string> {
  const n = r.pick([0, 1, 5, 2000]);
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++)
    out[`${nastyString(r).slice(0, 40)}${i}`] = r.chance(0.1) ? 'v'.repeat(5000) : nastyString(r);
  return out;
}

export function nastyPodConfig(r: Rng): Record<string, unknown> {
  return {
    metadata: r.chance(0.1)
      ? null
      : { name: nastyString(r), namespace: nastyString(r), uid: nastyString(r), attempt: nastyInt32(r) },
    hostname: nastyString(r),
    log_directory: r.pick(['', '/tmp/fuzz', '../x', '/var/log/pods/../../etc', nastyString(r)]),
    labels: nastyMap(r),
    annotations: nastyMap(r),
    port_mappings: r.chance(0.3)
      ? [
          {
            protocol: r.pick(['TCP', 'UDP', 'SCTP']),
            container_port: nastyInt32(r),
            host_port: nastyInt32(r),
            host_ip: nastyString(r),
          },
        ]
      : [],
    linux: r.chance(0.5)
      ? {
          cgroup_parent: nastyString(r),
          sysctls: nastyMap(r),
          security_context: {
            privileged: r.chance(0.5),
            namespace_options: { network: r.pick(['POD', 'NODE', 'CONTAINER', 'TARGET']) },
          },
        }
      : null,
  };
}

export function nastyContainerConfig(r: Rng): Record<string, unknown> {
  return {
    metadata: { name: nastyString(r), attempt: nastyInt32(r) },
    image: { image: nastyString(r) },
    command: [nastyString(r)],
    args: [nastyString(r), nastyString(r)],
    working_dir: nastyString(r),
    envs: [{ key: nastyString(r), value: nastyString(r) }],
    mounts: [
      {
        container_path: nastyString(r),
        host_path: r.pick(['/etc', '/var/lib/crimux', '/run/crimux/x', nastyString(r)]),
        readonly: r.chance(0.5),
      },
    ],
    log_path: r.pick(['c.log', '../../escape', '/abs.log', nastyString(r)]),
    labels: nastyMap(r),
    annotations: nastyMap(r),
  };
}
