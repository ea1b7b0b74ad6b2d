import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch } from '../runtime/index.js';
import { loopWarning, NOT_REACTIVE_WARNING } from '../bin/loop-warning.js';

class Deaf extends Sketch {
  override async loop() {
    return 'never sent';
  }
}
class Answering extends Sketch {
  @reactive override async loop() {
    return 'ack';
  }
}
class Publisher extends Sketch {}

const make = (C: typeof Sketch) => new C({ discovery: false, log: () => {} });

test('a loop overridden without @reactive is warned about; a @reactive loop and no loop at all are not', () => {
  assert.is(loopWarning(make(Deaf)), NOT_REACTIVE_WARNING);
  assert.match(NOT_REACTIVE_WARNING, /^warning: loop is not @reactive: messages get no acknowledgement/);
  assert.is(loopWarning(make(Answering)), undefined);
  assert.is(loopWarning(make(Publisher)), undefined);
});

test.run();
