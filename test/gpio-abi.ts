/**
 * The ABI contract: a C program compiled here against the system's `<linux/gpio.h>` (Debian's
 * linux-libc-dev; CI installs gcc and linux-libc-dev) prints the uAPI v2 struct sizes, field
 * offsets, flag values and ioctl request numbers, and the bytes of sample structs filled field
 * by field; runtime/hardware/gpio-uapi.ts must match every one exactly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeChipInfo,
  decodeLineEvents,
  decodeLineRequest,
  encodeChipInfo,
  encodeLineEvent,
  encodeLineRequest,
  encodeLineValues,
  GPIO_MAX_NAME_SIZE,
  GPIO_V2_LINE_NUM_ATTRS_MAX,
  GPIO_V2_LINES_MAX,
  IOCTL,
  LineAttrId,
  LineEventId,
  LineFlag,
  OFFSET,
  SIZE,
} from '../runtime/hardware/gpio-uapi.js';

const source = fileURLToPath(new URL('./fixtures/gpio-abi/abi.c', import.meta.url));

function kernelAbi(): Record<string, number | string> | string {
  if (!fs.existsSync('/usr/include/linux/gpio.h')) return '/usr/include/linux/gpio.h is missing (apt-get install linux-libc-dev)';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpio-abi-'));
  try {
    const exe = path.join(dir, 'abi');
    try {
      execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-o', exe, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') return 'gcc is not installed (apt-get install gcc)';
      throw new Error(`gcc failed: ${e.stderr?.toString() ?? e.message}`);
    }
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Record<string, number | string>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const abi = kernelAbi();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

if (typeof abi === 'string') {
  test('the GPIO uAPI v2 ABI contract (skipped)', () => console.log(`  skipped: ${abi}`));
} else {
  test('every struct size matches <linux/gpio.h>', () => {
    for (const [name, size] of Object.entries(SIZE)) assert.is(size, abi[`size.${name}`], name);
  });

  test('every field offset matches <linux/gpio.h>', () => {
    for (const [struct, fields] of Object.entries(OFFSET)) {
      for (const [field, offset] of Object.entries(fields)) {
        // the attribute's union is read through its `flags` member
        const key = `offset.${struct}.${struct === 'gpio_v2_line_attribute' && field === 'value' ? 'flags' : field}`;
        assert.is(offset, abi[key], key);
      }
    }
  });

  test('every ioctl request number we pass is the one the header computes', () => {
    for (const [name, n] of Object.entries(IOCTL)) assert.is(n, abi[`ioctl.${name}`], name);
  });

  test('flags, attribute ids, event ids and limits match the header', () => {
    for (const [name, bit] of Object.entries(LineFlag)) assert.is(bit, abi[`const.GPIO_V2_LINE_FLAG_${name}`], name);
    for (const [name, id] of Object.entries(LineAttrId)) assert.is(id, abi[`const.GPIO_V2_LINE_ATTR_ID_${name}`], name);
    assert.is(LineEventId.RISING_EDGE, abi['const.GPIO_V2_LINE_EVENT_RISING_EDGE']);
    assert.is(LineEventId.FALLING_EDGE, abi['const.GPIO_V2_LINE_EVENT_FALLING_EDGE']);
    assert.is(GPIO_MAX_NAME_SIZE, abi['const.GPIO_MAX_NAME_SIZE']);
    assert.is(GPIO_V2_LINES_MAX, abi['const.GPIO_V2_LINES_MAX']);
    assert.is(GPIO_V2_LINE_NUM_ATTRS_MAX, abi['const.GPIO_V2_LINE_NUM_ATTRS_MAX']);
  });

  test('an output request encodes to the bytes C builds: common flags, one output-values attribute', () => {
    const bytes = encodeLineRequest({
      offsets: [18, 23],
      consumer: 'sketchnet:buzzer',
      settings: [
        { flags: LineFlag.OUTPUT | LineFlag.BIAS_PULL_DOWN, output: 0 },
        { flags: LineFlag.OUTPUT | LineFlag.BIAS_PULL_DOWN, output: 1 },
      ],
    });
    assert.is(hex(bytes), abi['request.output']);
  });

  test('an input request encodes to the bytes C builds: edges, realtime clock, bias, debounce, buffer size', () => {
    const input = LineFlag.INPUT | LineFlag.EDGE_RISING | LineFlag.EDGE_FALLING | LineFlag.EVENT_CLOCK_REALTIME | LineFlag.BIAS_PULL_UP | LineFlag.ACTIVE_LOW;
    const req = {
      offsets: [17, 27],
      consumer: 'sketchnet:button',
      settings: [
        { flags: input, debounceUs: 20_000 },
        { flags: LineFlag.OUTPUT | LineFlag.OPEN_DRAIN, output: 0 as const },
      ],
      eventBufferSize: 64,
    };
    const bytes = encodeLineRequest(req);
    assert.is(hex(bytes), abi['request.input']);
    const back = decodeLineRequest(bytes);
    assert.equal(back.offsets, [17, 27]);
    assert.is(back.consumer, 'sketchnet:button');
    assert.equal(back.settings, [
      { flags: input, output: 0, debounceUs: 20_000 },
      { flags: LineFlag.OUTPUT | LineFlag.OPEN_DRAIN, output: 0, debounceUs: 0 },
    ]);
  });

  test('line values, edge events and chip info have the header\'s byte layout', () => {
    assert.is(hex(encodeLineValues(1n, 1n)), abi['values']);
    const event = { timestampNs: 1_700_000_000_123_456_789n, id: LineEventId.FALLING_EDGE, offset: 17, seqno: 42, lineSeqno: 7 };
    assert.is(hex(encodeLineEvent(event)), abi['event']);
    assert.equal(decodeLineEvents(Buffer.from(abi['event'] as string, 'hex')), [event]);
    assert.is(hex(encodeChipInfo({ name: 'gpiochip0', label: 'pinctrl-rp1', lines: 54 })), abi['chipinfo']);
    assert.equal(decodeChipInfo(Buffer.from(abi['chipinfo'] as string, 'hex')), { name: 'gpiochip0', label: 'pinctrl-rp1', lines: 54 });
  });
}

test('a request of no lines, more than 64, or too many distinct settings is refused before any ioctl', () => {
  assert.throws(() => encodeLineRequest({ offsets: [], consumer: 'x', settings: [] }), /1 to 64 lines/);
  const many = Array.from({ length: 65 }, (_, i) => i);
  assert.throws(() => encodeLineRequest({ offsets: many, consumer: 'x', settings: many.map(() => ({ flags: LineFlag.INPUT })) }), /1 to 64 lines/);
  const distinct = Array.from({ length: 12 }, (_, i) => i);
  assert.throws(
    () => encodeLineRequest({ offsets: distinct, consumer: 'x', settings: distinct.map((i) => ({ flags: LineFlag.INPUT, debounceUs: 1000 * (i + 1) })) }),
    /at most 10 attributes/,
  );
});

test('a consumer longer than 31 bytes is cut, keeping the NUL terminator', () => {
  const bytes = encodeLineRequest({ offsets: [1], consumer: 'sketchnet:' + 'x'.repeat(40), settings: [{ flags: LineFlag.INPUT }] });
  const field = bytes.subarray(OFFSET.gpio_v2_line_request.consumer, OFFSET.gpio_v2_line_request.consumer + GPIO_MAX_NAME_SIZE);
  assert.is(field[31], 0);
  assert.is(decodeLineRequest(bytes).consumer.length, 31);
});

test.run();
