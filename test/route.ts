import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworkInterfaceInfo } from 'node:os';
import { onLocalLink } from '../runtime/net/route.js';

const v4 = (address: string, netmask: string, internal = false): NetworkInterfaceInfo =>
  ({ address, netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null }) as NetworkInterfaceInfo;
const interfaces = {
  lo: [v4('127.0.0.1', '255.0.0.0', true)],
  eth0: [v4('192.168.1.20', '255.255.255.0'), { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 2 } as NetworkInterfaceInfo],
  wg0: [v4('10.8.0.2', '255.255.0.0')],
};

test('an IPv4 address in the subnet of one of our interfaces is on this link', () => {
  assert.ok(onLocalLink('192.168.1.77', interfaces));
  assert.ok(onLocalLink('10.8.200.1', interfaces));
});

test('an address in no subnet of ours (another site behind the broker) is not on this link', () => {
  assert.not.ok(onLocalLink('192.168.2.77', interfaces));
  assert.not.ok(onLocalLink('10.9.0.1', interfaces));
});

test('an IPv6 address counts only when it is one of our own', () => {
  assert.ok(onLocalLink('fe80::1', interfaces));
  assert.ok(onLocalLink('[fe80::1]', interfaces));
  assert.not.ok(onLocalLink('fe80::2', interfaces));
});

test.run();
