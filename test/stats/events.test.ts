/**
 * GetContainerEvents end to end, one daemon serving every backend this machine runs, subscribers on real
 * server streams (@grpc/grpc-js with the project's proto loader): per backend, a create/start/stop/remove cycle
 * yields exactly CREATED, STARTED, STOPPED, DELETED for the container, in order, each with the pod's sandbox
 * status and the container statuses; a container exiting on its own yields one STOPPED. On runc, a subscriber
 * that never reads does not stall Version/ListContainers while many large events are produced, and loses
 * nothing once it reads again.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { after, before, describe, test } from 'node:test';
import { loadCriProto } from '../../src/cri/proto';
import type { ContainerEventResponse__Output as Ev } from '../../src/cri/generated/runtime/v1/ContainerEventResponse';
import { BUSYBOX } from '../fixtures/images';
import {
  AVAILABLE,
  KINDS,
  createContainer,
  runPod,
  startEnv,
  unavailable,
  waitFor,
  type Env,
  type Kind,
  type Pod,
} from './env';

/** Runc-scheme CNI slots 0–4, 7 and 9 are taken by other files; the stats test uses 11. */
const SLOT = 12;
const SLEEP = ['sleep', '3600'];

interface Subscriber {
  readonly events: Ev[];
  error?: grpc.ServiceError;
  readonly call: grpc.ClientReadableStream<Ev>;
  close(): void;
}

/** A GetContainerEvents stream on its own connection (a paused one must not share flow control with probes). */
function subscribe(socket: string): Subscriber {
  const proto = loadCriProto();
  const client = new proto.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  const call = client.GetContainerEvents({});
  const sub: Subscriber = {
    events: [],
    call,
    close() {
      call.cancel();
      client.close();
    },
  };
  call.on('data', (e: Ev) => sub.events.push(e));
  call.on('error', (e: grpc.ServiceError) => (sub.error = e));
  return sub;
}

const short = (t: unknown): string => String(t).replace(/^CONTAINER_|_EVENT$/g, '');
const eventsOf = (sub: Subscriber, id: string): Ev[] => sub.events.filter((e) => e.container_id === id);

function waitEvent(sub: Subscriber, id: string, type: string, timeoutMs: number): Promise<Ev> {
  return waitFor(
    `${short(type)} event for ${id.slice(0, 12)}`,
    async () => {
      if (sub.error) throw sub.error;
      return eventsOf(sub, id).find((e) => e.container_event_type === type);
    },
    timeoutMs,
    100,
  );
}

let env: Env | undefined;
let sub: Subscriber | undefined;
const pods = new Map<Kind, Promise<Pod>>();

before(
  async () => {
    env = await startEnv(SLOT);
    sub = subscribe(env.daemon.socket);
    const e = env;
    const s = sub;
    for (const kind of AVAILABLE) {
      const p = (async () => {
        const pod = await runPod(e, kind, 'ev');
        // The sandbox's own STARTED shows this subscription is live before any container cycle runs.
        await waitEvent(s, pod.id, 'CONTAINER_STARTED_EVENT', 15_000);
        return pod;
      })();
      p.catch(() => undefined); // reported by the tests that await it
      pods.set(kind, p);
    }
  },
  { timeout: 600_000 },
);

after(
  async () => {
    sub?.close();
    await env?.cleanup();
  },
  { timeout: 300_000 },
);

function podOf(kind: Kind): Promise<Pod> {
  const p = pods.get(kind);
  if (!p || !env || !sub) throw new Error(`${kind}: the test environment did not start`);
  return p;
}

for (const kind of KINDS) {
  describe(kind, { skip: unavailable(kind) }, () => {
    test(
      'a create/start/stop/remove cycle yields CREATED, STARTED, STOPPED, DELETED in order',
      { timeout: 120_000 },
      async () => {
        const pod = await podOf(kind);
        const d = env!.daemon;
        const id = await createContainer(env!, pod, 'cycle', SLEEP);
        await d.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
        await d.rt('StopContainer', { container_id: id, timeout: 0 }, { deadlineMs: 60_000 });
        await d.rt('RemoveContainer', { container_id: id }, { deadlineMs: 60_000 });
        await waitEvent(sub!, id, 'CONTAINER_DELETED_EVENT', 15_000);
        // The exit watcher relists once a second: give a duplicate STOPPED the chance to show up.
        await new Promise((r) => setTimeout(r, 1500));
        const evs = eventsOf(sub!, id);
        assert.deepEqual(
          evs.map((e) => short(e.container_event_type)),
          ['CREATED', 'STARTED', 'STOPPED', 'DELETED'],
        );
        let prev = 0n;
        for (const e of evs) {
          assert.equal(e.pod_sandbox_status?.id, pod.id, `${short(e.container_event_type)} carries the pod status`);
          assert.equal(e.pod_sandbox_status?.state, 'SANDBOX_READY');
          assert.equal(e.pod_sandbox_status?.metadata?.name, `${kind}-ev`);
          assert.ok(BigInt(e.created_at) >= prev, 'created_at does not go back');
          prev = BigInt(e.created_at);
        }
        const statusIn = (e: Ev | undefined) => e?.containers_statuses.find((c) => c.id === id);
        assert.ok(
          ['CONTAINER_CREATED', 'CONTAINER_RUNNING'].includes(String(statusIn(evs[0])?.state)),
          'CREATED lists the container',
        );
        assert.equal(statusIn(evs[1])?.state, 'CONTAINER_RUNNING');
        assert.equal(statusIn(evs[1])?.metadata?.name, 'cycle');
        assert.equal(statusIn(evs[2])?.state, 'CONTAINER_EXITED');
        assert.equal(statusIn(evs[3]), undefined, 'DELETED: the container is gone from the pod');
      },
    );

    test('a container exiting on its own yields one STOPPED', { timeout: 120_000 }, async () => {
      const pod = await podOf(kind);
      const d = env!.daemon;
      const id = await createContainer(env!, pod, 'exits', ['sh', '-c', 'sleep 1; exit 3']);
      await d.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
      const stopped = await waitEvent(sub!, id, 'CONTAINER_STOPPED_EVENT', 20_000);
      const st = stopped.containers_statuses.find((c) => c.id === id);
      assert.equal(st?.state, 'CONTAINER_EXITED');
      assert.equal(st?.exit_code, 3);
      assert.equal(stopped.pod_sandbox_status?.id, pod.id);
      // The kubelet's clean-up: stop (already exited) then remove — no second STOPPED.
      await d.rt('StopContainer', { container_id: id, timeout: 0 }, { deadlineMs: 60_000 });
      await d.rt('RemoveContainer', { container_id: id }, { deadlineMs: 60_000 });
      await waitEvent(sub!, id, 'CONTAINER_DELETED_EVENT', 15_000);
      assert.deepEqual(
        eventsOf(sub!, id).map((e) => short(e.container_event_type)),
        ['CREATED', 'STARTED', 'STOPPED', 'DELETED'],
      );
    });
  });
}

test(
  'runc: a subscriber that stops reading stalls neither other RPCs nor other subscribers',
  { skip: unavailable('runc'), timeout: 240_000 },
  async () => {
    const d = env!.daemon;
    const paused = subscribe(d.socket);
    try {
      paused.call.pause();
      const pod = await runPod(env!, 'runc', 'burst');
      // Pod STARTED reached the reading subscriber; the paused one is subscribed by now too (same ordering).
      await waitEvent(sub!, pod.id, 'CONTAINER_STARTED_EVENT', 15_000);

      // Probes run all along: Version and ListContainers, each bounded by a deadline well above normal latency.
      let probing = true;
      let probes = 0;
      let worstMs = 0;
      const prober = (async () => {
        while (probing) {
          const t = Date.now();
          await d.rt('Version', {}, { deadlineMs: 5000 });
          await d.rt('ListContainers', { filter: { pod_sandbox_id: pod.id } }, { deadlineMs: 5000 });
          worstMs = Math.max(worstMs, Date.now() - t);
          probes++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      // Many large events: each carries the statuses of every container in the pod, each with a 4 KiB annotation,
      // so the paused stream's flow-control window fills within the first few events.
      const N = 20;
      const big = 'x'.repeat(4096);
      const ids: string[] = [];
      try {
        for (let i = 0; i < N; i++) {
          const config = {
            metadata: { name: `b${i}` },
            image: { image: BUSYBOX.ref },
            command: SLEEP,
            log_path: `b${i}/0.log`,
            annotations: { big },
          };
          const c = await d.rt(
            'CreateContainer',
            { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
            { deadlineMs: 60_000 },
          );
          ids.push(c.container_id);
        }
        for (const id of ids) await d.rt('RemoveContainer', { container_id: id }, { deadlineMs: 60_000 });
      } finally {
        probing = false;
        await prober;
      }
      assert.ok(probes > 0, 'the probes ran');
      assert.ok(worstMs < 5000, `every probe answered within its deadline (worst ${worstMs} ms)`);

      // The reading subscriber got all of them, in order.
      for (const id of ids) await waitEvent(sub!, id, 'CONTAINER_DELETED_EVENT', 15_000);
      for (const id of ids)
        assert.deepEqual(
          eventsOf(sub!, id).map((e) => short(e.container_event_type)),
          ['CREATED', 'DELETED'],
        );
      const received = sub!.events.filter((e) => ids.includes(e.container_id)).length;
      const bytes = sub!.events
        .filter((e) => ids.includes(e.container_id))
        .reduce((a, e) => a + e.containers_statuses.length * 4096, 0);
      assert.equal(received, 2 * N);
      assert.ok(bytes > 1024 * 1024, `the burst carried ${bytes} bytes of annotations, far beyond a stream window`);

      // The paused subscriber was held back, not dropped (40 events are well inside its queue): reading again
      // delivers everything, in order.
      assert.ok(
        eventsOf(paused, ids[ids.length - 1]!).length === 0,
        'the paused stream had not delivered the last events',
      );
      paused.call.resume();
      for (const id of ids) await waitEvent(paused, id, 'CONTAINER_DELETED_EVENT', 30_000);
      const order = paused.events
        .filter((e) => ids.includes(e.container_id))
        .map((e) => `${ids.indexOf(e.container_id)}:${short(e.container_event_type)}`);
      assert.deepEqual(order, [...ids.map((_, i) => `${i}:CREATED`), ...ids.map((_, i) => `${i}:DELETED`)]);
    } finally {
      paused.close();
    }
  },
);
