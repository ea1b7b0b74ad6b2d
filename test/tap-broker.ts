import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brokerTapPath, formatBrokerItem } from '../bin/tap-broker.js';

const sketch = (streams: string[]) => ({ name: 'porch', streams });

test("brokerTapPath: the path asked for when its presence lists it, else the sketch's only stream", () => {
  assert.is(brokerTapPath(sketch(['/readings', '/alerts']), '/alerts'), '/alerts');
  assert.is(brokerTapPath(sketch(['/readings']), undefined), '/readings');
  assert.is(brokerTapPath(sketch(['/readings']), '/'), '/readings', 'a bare / counts as no path');
});

test('brokerTapPath: one line when there is nothing to choose, a choice to make, or no such stream', () => {
  assert.throws(() => brokerTapPath(sketch([]), undefined), /^porch has no streams to tap$/);
  assert.throws(() => brokerTapPath(sketch(['/a', '/b']), undefined), /^porch has 2 streams: \/a, \/b; name one, e.g\. sketch tap porch\/a$/);
  assert.throws(() => brokerTapPath(sketch(['/a']), '/b'), /^porch has no stream \/b; its streams: \/a$/);
  assert.throws(() => brokerTapPath(sketch(['/in/x']), '/in/x'), /is not mirrored to the broker/);
});

test('formatBrokerItem: JSON data as compact JSON, any other payload as a JSON string, as sketch tap prints data', () => {
  assert.is(formatBrokerItem(Buffer.from('{ "temperature": 21.5,\n "unit": "C" }')), '{"temperature":21.5,"unit":"C"}');
  assert.is(formatBrokerItem('42'), '42');
  assert.is(formatBrokerItem('text as it is'), '"text as it is"');
  assert.is(formatBrokerItem(''), '""');
});

test.run();
