/**
 * The MAC a VM guest takes over comes from netlink inside the pod's netns, never from /sys/class/net (which shows
 * the node's interfaces there: every VM pod used to get the node's eth0 MAC, issue #18).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { macOf } from '../../src/backends/vm/net';

describe('vm pod network MAC', () => {
  it('reads the link-layer address from `ip -o link show`', () => {
    const line =
      '3: eth0@if9076: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 82:27:B8:a2:2d:34 brd ff:ff:ff:ff:ff:ff link-netnsid 0';
    assert.equal(macOf(line, 'eth0'), '82:27:b8:a2:2d:34');
  });

  it('refuses output without one', () => {
    assert.throws(() => macOf('1: lo: <LOOPBACK,UP> mtu 65536 link/loopback 00:00:00:00:00:00', 'lo'), /no MAC/);
  });
});
