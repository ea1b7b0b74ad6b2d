/**
 * The Linux GPIO character device ABI, uAPI v2 (kernel ≥ 5.10): struct layouts, flags and
 * ioctl request numbers of `include/uapi/linux/gpio.h`, and pure encoders/decoders between
 * those structs' bytes and plain objects. No I/O here: the calls go through a
 * {@link GpioSyscalls} seam (./gpio-syscalls.ts makes the real ones through koffi; tests pass
 * a fake chip that decodes the same bytes).
 *
 * Sources: `include/uapi/linux/gpio.h`, `Documentation/userspace-api/gpio/chardev.rst` and
 * `Documentation/userspace-api/gpio/gpio-v2-*.rst`; the ioctl number encoding is
 * `include/uapi/asm-generic/ioctl.h` (`_IOC(dir, type, nr, size)`: dir << 30 | size << 16 |
 * type << 8 | nr; dir 2 = read, 3 = read/write), which x86, arm and arm64 use.
 * test/gpio-abi.ts checks every size, offset and request number here against a C program
 * compiled with the system's `<linux/gpio.h>`.
 */

/** `GPIO_MAX_NAME_SIZE`: bytes in a name, label or consumer, NUL included. */
export const GPIO_MAX_NAME_SIZE = 32;
/** `GPIO_V2_LINES_MAX`: most lines one request holds. */
export const GPIO_V2_LINES_MAX = 64;
/** `GPIO_V2_LINE_NUM_ATTRS_MAX`: most attributes in one line config. */
export const GPIO_V2_LINE_NUM_ATTRS_MAX = 10;

/** `enum gpio_v2_line_flag` (bits of a 64-bit word; all below bit 32, so plain numbers). */
export const LineFlag = {
  USED: 1 << 0,
  ACTIVE_LOW: 1 << 1,
  INPUT: 1 << 2,
  OUTPUT: 1 << 3,
  EDGE_RISING: 1 << 4,
  EDGE_FALLING: 1 << 5,
  OPEN_DRAIN: 1 << 6,
  OPEN_SOURCE: 1 << 7,
  BIAS_PULL_UP: 1 << 8,
  BIAS_PULL_DOWN: 1 << 9,
  BIAS_DISABLED: 1 << 10,
  EVENT_CLOCK_REALTIME: 1 << 11,
  EVENT_CLOCK_HTE: 1 << 12,
} as const;

/** `enum gpio_v2_line_attr_id`. */
export const LineAttrId = { FLAGS: 1, OUTPUT_VALUES: 2, DEBOUNCE: 3 } as const;

/** `enum gpio_v2_line_event_id`. */
export const LineEventId = { RISING_EDGE: 1, FALLING_EDGE: 2 } as const;

/** Struct sizes in bytes (identical on 32- and 64-bit: every u64 is `__aligned_u64`). */
export const SIZE = {
  gpiochip_info: 68,
  gpio_v2_line_values: 16,
  gpio_v2_line_attribute: 16,
  gpio_v2_line_config_attribute: 24,
  gpio_v2_line_config: 272,
  gpio_v2_line_request: 592,
  gpio_v2_line_info: 256,
  gpio_v2_line_event: 48,
} as const;

/** Field offsets in bytes, by struct. */
export const OFFSET = {
  gpiochip_info: { name: 0, label: 32, lines: 64 },
  gpio_v2_line_values: { bits: 0, mask: 8 },
  gpio_v2_line_attribute: { id: 0, padding: 4, value: 8 },
  gpio_v2_line_config_attribute: { attr: 0, mask: 16 },
  gpio_v2_line_config: { flags: 0, num_attrs: 8, padding: 12, attrs: 32 },
  gpio_v2_line_request: { offsets: 0, consumer: 256, config: 288, num_lines: 560, event_buffer_size: 564, padding: 568, fd: 588 },
  gpio_v2_line_info: { name: 0, consumer: 32, offset: 64, num_attrs: 68, flags: 72, attrs: 80, padding: 240 },
  gpio_v2_line_event: { timestamp_ns: 0, id: 8, offset: 12, seqno: 16, line_seqno: 20, padding: 24 },
} as const;

const GPIO_IOC_MAGIC = 0xb4;
const IOC_READ = 2;
const IOC_READ_WRITE = 3;
/** `_IOC(dir, 0xB4, nr, size)` as an unsigned 32-bit number. */
const ioc = (dir: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (GPIO_IOC_MAGIC << 8) | nr) >>> 0;

/** The ioctl request numbers used (`GPIO_GET_CHIPINFO_IOCTL` is shared by v1 and v2). */
export const IOCTL = {
  GPIO_GET_CHIPINFO_IOCTL: ioc(IOC_READ, 0x01, SIZE.gpiochip_info),
  GPIO_V2_GET_LINEINFO_IOCTL: ioc(IOC_READ_WRITE, 0x05, SIZE.gpio_v2_line_info),
  GPIO_V2_GET_LINE_IOCTL: ioc(IOC_READ_WRITE, 0x07, SIZE.gpio_v2_line_request),
  GPIO_V2_LINE_SET_CONFIG_IOCTL: ioc(IOC_READ_WRITE, 0x0d, SIZE.gpio_v2_line_config),
  GPIO_V2_LINE_GET_VALUES_IOCTL: ioc(IOC_READ_WRITE, 0x0e, SIZE.gpio_v2_line_values),
  GPIO_V2_LINE_SET_VALUES_IOCTL: ioc(IOC_READ_WRITE, 0x0f, SIZE.gpio_v2_line_values),
} as const;

/**
 * The system calls the chardev backend makes, as a seam: ./gpio-syscalls.ts makes them for
 * real (koffi → libc), a fake chip in tests plays the kernel. Errors are thrown as
 * `NodeJS.ErrnoException`-shaped errors whose `code` is the errno name (`EBUSY`, `EACCES`…).
 */
export interface GpioSyscalls {
  /** The chip devices present, e.g. `['/dev/gpiochip0', '/dev/gpiochip4']`, sorted. */
  chips(): string[];
  /** `open(path, O_RDWR | O_CLOEXEC)`: a chip's fd. */
  open(path: string): number;
  /** `ioctl(fd, request, arg)`: the kernel reads and writes `arg` in place. */
  ioctl(fd: number, request: number, arg: Uint8Array): void;
  /**
   * Waits until `fd` (a line request) has edge events, then `read(fd, buf)`: resolves with the
   * bytes read, a whole number of {@link SIZE}.gpio_v2_line_event. Resolves 0 once `signal` is
   * aborted (call it before closing the fd).
   */
  readEvents(fd: number, buf: Uint8Array, signal: AbortSignal): Promise<number>;
  /** `close(fd)`: closing a line request's fd releases its lines. */
  close(fd: number): void;
  /**
   * `pidfd_open(pid)` then `pidfd_getfd(pidfd, fd)` (Linux ≥ 5.6): a duplicate, in this process,
   * of process `pid`'s `fd`. Needs ptrace access to `pid` (same user; under Yama
   * `ptrace_scope` 1 only a tracer `pid` allowed with {@link allowPtracer}). Optional: only the
   * GPIO guardian's lease on chardev lines uses it (./guardian-process.ts).
   */
  takeFd?(pid: number, fd: number): number;
  /**
   * `prctl(PR_SET_PTRACER, pid)`: lets `pid` (the guardian) take this process's fds under Yama
   * `ptrace_scope` 1, where a child may not otherwise inspect its parent. Optional; throws the
   * errno (EINVAL without Yama) for the caller to ignore.
   */
  allowPtracer?(pid: number): void;
}

/** `struct gpiochip_info`, decoded. */
export interface ChipInfo {
  /** Kernel name, e.g. `gpiochip0`. */
  name: string;
  /** Driver label, e.g. `pinctrl-rp1`. */
  label: string;
  /** Number of lines (valid offsets are 0 … lines − 1). */
  lines: number;
}

/** `struct gpio_v2_line_info`, decoded (the attributes folded into `debounceUs`). */
export interface LineInfo {
  /** Line name from the device tree (`GPIO17`), or '' when unnamed. */
  name: string;
  /** Who holds it, or '' (e.g. `sketchnet:buzzer`, `kernel`, `spi0 CS0`). */
  consumer: string;
  /** Line offset on its chip. */
  offset: number;
  /** `LineFlag` bits. */
  flags: number;
  /** Debounce period in µs when the line has one, else 0. */
  debounceUs: number;
}

/** One line's settings in a request (libgpiod's line settings). */
export interface LineSettings {
  /** `LineFlag` bits: direction, edges, drive, bias, active-low, event clock. */
  flags: number;
  /** For outputs: the logical value to start at (0 or 1). Default 0. */
  output?: 0 | 1;
  /** Debounce period in µs (inputs). Default 0: none. */
  debounceUs?: number;
}

/** A `struct gpio_v2_line_request` to encode. */
export interface LineRequest {
  /** Line offsets, 1 to 64 of them. */
  offsets: number[];
  /** The consumer label shown by `gpioinfo` (cut to 31 bytes). */
  consumer: string;
  /** The settings of each line, same order as `offsets` (lines with equal settings share an attribute). */
  settings: LineSettings[];
  /** Kernel edge-event buffer, in events; 0 = the kernel's default (16 per line). */
  eventBufferSize?: number;
}

/** `struct gpio_v2_line_event`, decoded. */
export interface LineEvent {
  /** Kernel timestamp in ns (CLOCK_REALTIME with `EVENT_CLOCK_REALTIME`, else CLOCK_MONOTONIC). */
  timestampNs: bigint;
  /** `LineEventId`: 1 rising, 2 falling. */
  id: number;
  /** Line offset. */
  offset: number;
  /** Sequence number of this event among all lines of the request (from 1). */
  seqno: number;
  /** Sequence number of this event on its line (from 1). */
  lineSeqno: number;
}

function writeName(buf: Uint8Array, at: number, text: string): void {
  const bytes = new TextEncoder().encode(text).subarray(0, GPIO_MAX_NAME_SIZE - 1);
  buf.fill(0, at, at + GPIO_MAX_NAME_SIZE);
  buf.set(bytes, at);
}

function readName(buf: Uint8Array, at: number): string {
  const field = buf.subarray(at, at + GPIO_MAX_NAME_SIZE);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

const view = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
/** The uAPI is in the machine's byte order; every Linux target sketchnet runs on is little-endian. */
const LE = true;

/** Decodes a `struct gpiochip_info` filled by `GPIO_GET_CHIPINFO_IOCTL`. */
export function decodeChipInfo(buf: Uint8Array): ChipInfo {
  const o = OFFSET.gpiochip_info;
  return { name: readName(buf, o.name), label: readName(buf, o.label), lines: view(buf).getUint32(o.lines, LE) };
}

/** Encodes a `struct gpiochip_info` (the fake chip's side of `GPIO_GET_CHIPINFO_IOCTL`). */
export function encodeChipInfo(info: ChipInfo, buf: Uint8Array = new Uint8Array(SIZE.gpiochip_info)): Uint8Array {
  const o = OFFSET.gpiochip_info;
  writeName(buf, o.name, info.name);
  writeName(buf, o.label, info.label);
  view(buf).setUint32(o.lines, info.lines, LE);
  return buf;
}

/** A zeroed `struct gpio_v2_line_info` asking for `offset` (`GPIO_V2_GET_LINEINFO_IOCTL`: padding must be zero). */
export function encodeLineInfoQuery(offset: number): Uint8Array {
  const buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_info);
  view(buf).setUint32(OFFSET.gpio_v2_line_info.offset, offset, LE);
  return buf;
}

/** Decodes a `struct gpio_v2_line_info` filled by `GPIO_V2_GET_LINEINFO_IOCTL`. */
export function decodeLineInfo(buf: Uint8Array): LineInfo {
  const o = OFFSET.gpio_v2_line_info;
  const v = view(buf);
  let debounceUs = 0;
  const attrs = Math.min(v.getUint32(o.num_attrs, LE), GPIO_V2_LINE_NUM_ATTRS_MAX);
  for (let i = 0; i < attrs; i++) {
    const at = o.attrs + i * SIZE.gpio_v2_line_attribute;
    if (v.getUint32(at, LE) === LineAttrId.DEBOUNCE) debounceUs = v.getUint32(at + 8, LE);
  }
  return {
    name: readName(buf, o.name),
    consumer: readName(buf, o.consumer),
    offset: v.getUint32(o.offset, LE),
    flags: Number(v.getBigUint64(o.flags, LE) & 0xffffffffn),
    debounceUs,
  };
}

/** Encodes a `struct gpio_v2_line_info` (the fake chip's side of `GPIO_V2_GET_LINEINFO_IOCTL`). */
export function encodeLineInfo(info: LineInfo, buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_info)): Uint8Array {
  const o = OFFSET.gpio_v2_line_info;
  buf.fill(0);
  const v = view(buf);
  writeName(buf, o.name, info.name);
  writeName(buf, o.consumer, info.consumer);
  v.setUint32(o.offset, info.offset, LE);
  v.setBigUint64(o.flags, BigInt(info.flags), LE);
  if (info.debounceUs > 0) {
    v.setUint32(o.num_attrs, 1, LE);
    v.setUint32(o.attrs, LineAttrId.DEBOUNCE, LE);
    v.setUint32(o.attrs + 8, info.debounceUs, LE);
  }
  return buf;
}

/** A 64-bit mask with bit i set for each index i (lines of a request are indexed 0 … 63). */
function maskOf(indexes: number[]): bigint {
  let mask = 0n;
  for (const i of indexes) mask |= 1n << BigInt(i);
  return mask;
}

/**
 * Encodes a `struct gpio_v2_line_config` into `buf` at `at` (zeroing it first): the most
 * common flags become `flags`, other lines' flags, the output values and the debounce periods
 * become attributes with a mask of line indexes.
 * @throws RangeError when more than {@link GPIO_V2_LINE_NUM_ATTRS_MAX} attributes are needed.
 */
export function encodeLineConfig(settings: LineSettings[], buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_config), at = 0): Uint8Array {
  const o = OFFSET.gpio_v2_line_config;
  buf.fill(0, at, at + SIZE.gpio_v2_line_config);
  const v = view(buf);
  const byFlags = new Map<number, number[]>();
  settings.forEach((s, i) => byFlags.set(s.flags, [...(byFlags.get(s.flags) ?? []), i]));
  const [common] = [...byFlags.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [0];
  v.setBigUint64(at + o.flags, BigInt(common), LE);
  const attrs: Array<{ id: number; value: bigint; mask: bigint }> = [];
  for (const [flags, lines] of byFlags) if (flags !== common) attrs.push({ id: LineAttrId.FLAGS, value: BigInt(flags), mask: maskOf(lines) });
  const outputs = settings.flatMap((s, i) => (s.flags & LineFlag.OUTPUT ? [i] : []));
  if (outputs.length > 0) {
    const high = outputs.filter((i) => settings[i]!.output === 1);
    attrs.push({ id: LineAttrId.OUTPUT_VALUES, value: maskOf(high), mask: maskOf(outputs) });
  }
  const byDebounce = new Map<number, number[]>();
  settings.forEach((s, i) => s.debounceUs && byDebounce.set(s.debounceUs, [...(byDebounce.get(s.debounceUs) ?? []), i]));
  for (const [us, lines] of byDebounce) attrs.push({ id: LineAttrId.DEBOUNCE, value: BigInt(us), mask: maskOf(lines) });
  if (attrs.length > GPIO_V2_LINE_NUM_ATTRS_MAX) {
    throw new RangeError(`a line config holds at most ${GPIO_V2_LINE_NUM_ATTRS_MAX} attributes, these settings need ${attrs.length}`);
  }
  v.setUint32(at + o.num_attrs, attrs.length, LE);
  attrs.forEach((a, i) => {
    const p = at + o.attrs + i * SIZE.gpio_v2_line_config_attribute;
    v.setUint32(p, a.id, LE);
    // the union: a u64 for flags and values, a u32 (low half, little-endian) for the debounce period
    if (a.id === LineAttrId.DEBOUNCE) v.setUint32(p + 8, Number(a.value), LE);
    else v.setBigUint64(p + 8, a.value, LE);
    v.setBigUint64(p + OFFSET.gpio_v2_line_config_attribute.mask, a.mask, LE);
  });
  return buf;
}

/**
 * Decodes a `struct gpio_v2_line_config` (at `at` in `buf`) back into each of `lines` lines'
 * settings, as the kernel applies it: an attribute's mask bit overrides the config's `flags`.
 */
export function decodeLineConfig(buf: Uint8Array, lines: number, at = 0): LineSettings[] {
  const o = OFFSET.gpio_v2_line_config;
  const v = view(buf);
  const flags = Number(v.getBigUint64(at + o.flags, LE) & 0xffffffffn);
  const settings: LineSettings[] = Array.from({ length: lines }, () => ({ flags, output: 0, debounceUs: 0 }));
  const n = Math.min(v.getUint32(at + o.num_attrs, LE), GPIO_V2_LINE_NUM_ATTRS_MAX);
  for (let i = 0; i < n; i++) {
    const p = at + o.attrs + i * SIZE.gpio_v2_line_config_attribute;
    const id = v.getUint32(p, LE);
    const mask = v.getBigUint64(p + OFFSET.gpio_v2_line_config_attribute.mask, LE);
    for (let line = 0; line < lines; line++) {
      if (!((mask >> BigInt(line)) & 1n)) continue;
      const s = settings[line]!;
      if (id === LineAttrId.FLAGS) s.flags = Number(v.getBigUint64(p + 8, LE) & 0xffffffffn);
      else if (id === LineAttrId.OUTPUT_VALUES) s.output = (v.getBigUint64(p + 8, LE) >> BigInt(line)) & 1n ? 1 : 0;
      else if (id === LineAttrId.DEBOUNCE) s.debounceUs = v.getUint32(p + 8, LE);
    }
  }
  return settings;
}

/**
 * Encodes a `struct gpio_v2_line_request` for `GPIO_V2_GET_LINE_IOCTL` (the kernel writes the
 * new request's fd into its `fd` field: read it with {@link requestFd}).
 * @throws RangeError for no lines, more than 64, or settings of another length.
 */
export function encodeLineRequest(req: LineRequest): Uint8Array {
  const n = req.offsets.length;
  if (n < 1 || n > GPIO_V2_LINES_MAX) throw new RangeError(`a line request holds 1 to ${GPIO_V2_LINES_MAX} lines, got ${n}`);
  if (req.settings.length !== n) throw new RangeError(`${n} offsets but ${req.settings.length} settings`);
  const o = OFFSET.gpio_v2_line_request;
  const buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_request);
  const v = view(buf);
  req.offsets.forEach((offset, i) => v.setUint32(o.offsets + 4 * i, offset, LE));
  writeName(buf, o.consumer, req.consumer);
  encodeLineConfig(req.settings, buf, o.config);
  v.setUint32(o.num_lines, n, LE);
  v.setUint32(o.event_buffer_size, req.eventBufferSize ?? 0, LE);
  return buf;
}

/** Decodes a `struct gpio_v2_line_request` (the fake chip's side of `GPIO_V2_GET_LINE_IOCTL`). */
export function decodeLineRequest(buf: Uint8Array): LineRequest & { padding: number[] } {
  const o = OFFSET.gpio_v2_line_request;
  const v = view(buf);
  const n = v.getUint32(o.num_lines, LE);
  const lines = Math.min(n, GPIO_V2_LINES_MAX);
  return {
    offsets: Array.from({ length: lines }, (_, i) => v.getUint32(o.offsets + 4 * i, LE)),
    consumer: readName(buf, o.consumer),
    settings: decodeLineConfig(buf, lines, o.config),
    eventBufferSize: v.getUint32(o.event_buffer_size, LE),
    padding: Array.from({ length: 5 }, (_, i) => v.getUint32(o.padding + 4 * i, LE)),
  };
}

/** The line request fd the kernel wrote into a `struct gpio_v2_line_request`. */
export function requestFd(buf: Uint8Array): number {
  return view(buf).getInt32(OFFSET.gpio_v2_line_request.fd, LE);
}

/** Writes the request fd into a `struct gpio_v2_line_request` (the fake chip's side). */
export function setRequestFd(buf: Uint8Array, fd: number): void {
  view(buf).setInt32(OFFSET.gpio_v2_line_request.fd, fd, LE);
}

/** Encodes a `struct gpio_v2_line_values`: `bits` and `mask` indexed by the line's position in its request. */
export function encodeLineValues(bits: bigint, mask: bigint, buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_values)): Uint8Array {
  const v = view(buf);
  v.setBigUint64(OFFSET.gpio_v2_line_values.bits, bits, LE);
  v.setBigUint64(OFFSET.gpio_v2_line_values.mask, mask, LE);
  return buf;
}

/** Decodes a `struct gpio_v2_line_values`. */
export function decodeLineValues(buf: Uint8Array): { bits: bigint; mask: bigint } {
  const v = view(buf);
  return { bits: v.getBigUint64(OFFSET.gpio_v2_line_values.bits, LE), mask: v.getBigUint64(OFFSET.gpio_v2_line_values.mask, LE) };
}

/** Encodes one `struct gpio_v2_line_event` into `buf` at `at` (the fake chip's side of read(2)). */
export function encodeLineEvent(e: LineEvent, buf: Uint8Array = new Uint8Array(SIZE.gpio_v2_line_event), at = 0): Uint8Array {
  const o = OFFSET.gpio_v2_line_event;
  buf.fill(0, at, at + SIZE.gpio_v2_line_event);
  const v = view(buf);
  v.setBigUint64(at + o.timestamp_ns, e.timestampNs, LE);
  v.setUint32(at + o.id, e.id, LE);
  v.setUint32(at + o.offset, e.offset, LE);
  v.setUint32(at + o.seqno, e.seqno, LE);
  v.setUint32(at + o.line_seqno, e.lineSeqno, LE);
  return buf;
}

/** Decodes the `struct gpio_v2_line_event`s in the first `bytes` bytes of `buf` (a partial trailing one is ignored). */
export function decodeLineEvents(buf: Uint8Array, bytes = buf.byteLength): LineEvent[] {
  const o = OFFSET.gpio_v2_line_event;
  const v = view(buf);
  const events: LineEvent[] = [];
  for (let at = 0; at + SIZE.gpio_v2_line_event <= bytes; at += SIZE.gpio_v2_line_event) {
    events.push({
      timestampNs: v.getBigUint64(at + o.timestamp_ns, LE),
      id: v.getUint32(at + o.id, LE),
      offset: v.getUint32(at + o.offset, LE),
      seqno: v.getUint32(at + o.seqno, LE),
      lineSeqno: v.getUint32(at + o.line_seqno, LE),
    });
  }
  return events;
}
