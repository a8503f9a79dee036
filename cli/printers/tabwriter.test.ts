import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getTabWriterOptions, tabbedString, TabWriter } from './tabwriter.js';

describe('TabWriter', () => {
  it('aligns describe output in blocks that lines without tabs end (as kubectl prints it)', () => {
    const input =
      'Pod Template:\n' +
      '  Labels:\tapp=web\n' +
      '  Containers:\n' +
      '   web:\n' +
      '    Image:\tnginx:1.27\n' +
      '    Port:\t80/TCP\n' +
      '    Host Port:\t0/TCP\n' +
      '    Environment:\n' +
      '      A:\t1\n' +
      '    Mounts:\t<none>\n' +
      '   sidecar:\n' +
      '    Image:\tbusybox\n' +
      '    Environment:\t<none>\n' +
      '    Mounts:\t<none>\n' +
      '  Volumes:\t<none>\n' +
      '  Node-Selectors:\t<none>\n' +
      'Events:\t<none>\n';
    // Copied from `kubectl describe deploy web` (kubectl 1.32) against the same object.
    assert.equal(
      tabbedString(input),
      'Pod Template:\n' +
        '  Labels:  app=web\n' +
        '  Containers:\n' +
        '   web:\n' +
        '    Image:      nginx:1.27\n' +
        '    Port:       80/TCP\n' +
        '    Host Port:  0/TCP\n' +
        '    Environment:\n' +
        '      A:     1\n' +
        '    Mounts:  <none>\n' +
        '   sidecar:\n' +
        '    Image:         busybox\n' +
        '    Environment:   <none>\n' +
        '    Mounts:        <none>\n' +
        '  Volumes:         <none>\n' +
        '  Node-Selectors:  <none>\n' +
        'Events:            <none>\n',
    );
  });

  it("uses get's minimum width and padding, and leaves the last column unpadded", () => {
    let out = '';
    const w = new TabWriter((s) => (out += s), getTabWriterOptions);
    w.write('NAME\tREADY\tAGE\nweb\t0/2\t5s\n');
    w.flush();
    assert.equal(out, 'NAME   READY   AGE\nweb    0/2     5s\n');
  });

  it('remembers column widths across flushes, as get -w needs', () => {
    let out = '';
    const w = new TabWriter((s) => (out += s), getTabWriterOptions);
    w.write('NAME\tDATA\tAGE\nlong-config-name\t1\t1s\n');
    w.flush();
    w.write('a\t2\t0s\n');
    w.flush();
    assert.equal(
      out,
      'NAME               DATA   AGE\nlong-config-name   1      1s\na                  2      0s\n',
    );
    w.resetRememberedWidths();
    out = '';
    w.write('a\t2\t0s\n');
    w.flush();
    assert.equal(out, 'a     2     0s\n', 'minimum width 6 again');
  });

  it('counts width in code points and writes an unterminated last line as is', () => {
    assert.equal(tabbedString('é\tx\nab\ty'), 'é   x\nab  y');
  });
});
