import type { SketchClass } from '../runtime/index.js';

/** The built-in sketches `sketch run NAME` knows, each loaded on demand. */
export const BUILTINS: Record<string, () => Promise<SketchClass>> = {
  clock: async () => (await import('./clock.js')).default,
  iopin: async () => (await import('./iopin.js')).default,
  buzzer: async () => (await import('./buzzer.js')).default,
  thermometer: async () => (await import('./thermometer.js')).default,
  recorder: async () => (await import('./recorder.js')).default,
  dashboard: async () => (await import('./dashboard.js')).default,
  button: async () => (await import('./button.js')).default,
};
