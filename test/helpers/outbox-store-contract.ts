/**
 * The contract every {@link OutboxStore} must keep, as one uvu suite to run against each
 * implementation (like mqtt.js' `test/node/abstract_store.ts`):
 *
 * ```ts
 * outboxStoreContract('MemoryOutboxStore', () => new MemoryOutboxStore());
 * outboxStoreContract('SqliteOutboxStore', () => new SqliteOutboxStore(tmpFile()), { reopen: … });
 * ```
 * No side effects on import.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { OutboxStore } from '../../runtime/streams/outbox.js';

export interface ContractOptions {
  /**
   * For persistent stores: closes `store` and opens the same storage again. When given, the
   * suite also checks that items and their order survive a reopen.
   */
  reopen?: (store: OutboxStore) => OutboxStore | Promise<OutboxStore>;
}

/** Defines and runs the contract suite `OutboxStore contract: <name>` against stores from `make`. */
export function outboxStoreContract(
  name: string,
  make: () => OutboxStore | Promise<OutboxStore>,
  options: ContractOptions = {},
): void {
  const it = suite<{ store: OutboxStore }>(`OutboxStore contract: ${name}`, { store: undefined as unknown as OutboxStore });
  it.before.each(async (ctx) => {
    ctx.store = await make();
  });
  it.after.each(async (ctx) => {
    await ctx.store.close();
  });

  it('a new store is empty', ({ store }) => {
    assert.is(store.size, 0);
    assert.equal(store.oldest(10), []);
    assert.is(store.newest(), undefined);
    assert.is(store.get(1), undefined);
  });

  it('put then get returns the item under its id', ({ store }) => {
    store.put(1, '{"time":1}');
    store.put(2, '"text"');
    assert.is(store.get(1), '{"time":1}');
    assert.is(store.get(2), '"text"');
    assert.is(store.get(3), undefined);
    assert.is(store.size, 2);
  });

  it('put under an id already stored replaces the item, keeping one entry', ({ store }) => {
    store.put(7, 'a');
    store.put(7, 'b');
    assert.is(store.get(7), 'b');
    assert.is(store.size, 1);
  });

  it('del removes and returns the item; del of an unknown id returns undefined', ({ store }) => {
    store.put(1, 'a');
    store.put(2, 'b');
    assert.is(store.del(1), 'a');
    assert.is(store.del(1), undefined);
    assert.is(store.del(99), undefined);
    assert.is(store.get(1), undefined);
    assert.is(store.size, 1);
    assert.equal(store.oldest(10), [2]);
  });

  it('oldest lists ids in increasing order, at most limit of them', ({ store }) => {
    for (let id = 1; id <= 5; id++) store.put(id, String(id));
    assert.equal(store.oldest(3), [1, 2, 3]);
    assert.equal(store.oldest(100), [1, 2, 3, 4, 5]);
    assert.equal(store.oldest(0), []);
  });

  it('oldest(limit, after) lists only ids greater than after', ({ store }) => {
    for (let id = 1; id <= 5; id++) store.put(id, String(id));
    assert.equal(store.oldest(2, 2), [3, 4]);
    assert.equal(store.oldest(10, 5), []);
    assert.equal(store.oldest(10, 0), [1, 2, 3, 4, 5]);
  });

  it('ids are ordered by value, never by position: deleting from the middle keeps the order', ({ store }) => {
    for (let id = 1; id <= 6; id++) store.put(id, String(id));
    store.del(3);
    store.del(1);
    store.put(7, '7');
    assert.equal(store.oldest(10), [2, 4, 5, 6, 7]);
    assert.equal(store.oldest(2, 2), [4, 5]);
  });

  it('ids put out of order are still listed in increasing order', ({ store }) => {
    store.put(10, 'j');
    store.put(3, 'c');
    store.put(7, 'g');
    assert.equal(store.oldest(10), [3, 7, 10]);
    assert.is(store.newest(), 10);
  });

  it('newest is the highest id held, and follows deletions', ({ store }) => {
    store.put(1, 'a');
    store.put(2, 'b');
    store.put(3, 'c');
    assert.is(store.newest(), 3);
    store.del(3);
    assert.is(store.newest(), 2);
    store.del(1);
    store.del(2);
    assert.is(store.newest(), undefined);
  });

  it('items are kept byte for byte: unicode, quotes, empty and large texts', ({ store }) => {
    const texts = ['', '"°C — ✓"', '{"a":"\\"quoted\\""}', 'x'.repeat(100_000), '[1,2,3]'];
    texts.forEach((t, i) => store.put(i + 1, t));
    texts.forEach((t, i) => assert.is(store.get(i + 1), t));
  });

  it('size counts the items held through puts, replacements and deletions', ({ store }) => {
    for (let id = 1; id <= 1000; id++) store.put(id, String(id));
    store.put(500, 'again');
    for (let id = 1; id <= 1000; id += 2) store.del(id);
    assert.is(store.size, 500);
    assert.equal(store.oldest(3), [2, 4, 6]);
  });

  it('property: any sequence of put, del and oldest behaves like a map sorted by id', async (ctx) => {
    type Op =
      | { op: 'put'; id: number }
      | { op: 'del'; id: number }
      | { op: 'delHeld'; index: number }
      | { op: 'oldest'; limit: number; after: number };
    const id = fc.integer({ min: 1, max: 40 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.record({ op: fc.constant('put' as const), id }), weight: 4 },
      { arbitrary: fc.record({ op: fc.constant('del' as const), id }), weight: 1 },
      { arbitrary: fc.record({ op: fc.constant('delHeld' as const), index: fc.nat({ max: 39 }) }), weight: 2 },
      {
        arbitrary: fc.record({
          op: fc.constant('oldest' as const),
          limit: fc.integer({ min: 0, max: 10 }),
          after: fc.integer({ min: 0, max: 40 }),
        }),
        weight: 1,
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 100 }), async (ops) => {
        await ctx.store.close();
        ctx.store = await make();
        const store = ctx.store;
        const model = new Map<number, string>();
        const sorted = () => [...model.keys()].sort((a, b) => a - b);
        let n = 0;
        for (const o of ops) {
          if (o.op === 'put') {
            const item = `item ${++n}`;
            store.put(o.id, item);
            model.set(o.id, item);
          } else if (o.op === 'del' || o.op === 'delHeld') {
            const held = sorted();
            const target = o.op === 'del' ? o.id : held[o.index % Math.max(1, held.length)];
            if (target === undefined) continue;
            assert.is(store.del(target), model.get(target));
            model.delete(target);
          } else {
            assert.equal(store.oldest(o.limit, o.after), sorted().filter((x) => x > o.after).slice(0, o.limit));
          }
          assert.is(store.size, model.size);
          assert.is(store.newest(), sorted().at(-1));
          assert.equal(store.oldest(1000), sorted());
        }
        for (const [key, item] of model) assert.is(store.get(key), item);
      }),
      { numRuns: 300 },
    );
  });

  if (options.reopen) {
    const reopen = options.reopen;
    it('items and their order survive closing and reopening the store', async (ctx) => {
      for (let id = 1; id <= 5; id++) ctx.store.put(id, `item ${id}`);
      ctx.store.del(2);
      ctx.store = await reopen(ctx.store);
      assert.equal(ctx.store.oldest(10), [1, 3, 4, 5]);
      assert.is(ctx.store.get(4), 'item 4');
      assert.is(ctx.store.newest(), 5);
    });
  }

  it.run();
}
