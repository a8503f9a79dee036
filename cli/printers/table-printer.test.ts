import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../../api/patch/json-value.js';
import { cellText, TablePrinter, type TablePrintOptions } from './table-printer.js';
import { getTabWriterOptions, TabWriter } from './tabwriter.js';

const columns = [
  { name: 'Name', type: 'string', format: 'name', priority: 0 },
  { name: 'Ready', type: 'string', format: '', priority: 0 },
  { name: 'Restarts', type: 'integer', format: '', priority: 0 },
  { name: 'Age', type: 'string', format: '', priority: 0 },
  { name: 'IP', type: 'string', format: '', priority: 1 },
];

function row(name: string, ns: string, labels: Record<string, string> = {}): JsonObject {
  return {
    cells: [name, '1/1', 0, '5s', '10.0.0.5'],
    object: {
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { name, namespace: ns, labels },
    },
  };
}

function table(rows: JsonObject[], withColumns = true): JsonObject {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: withColumns ? columns : [],
    rows,
  };
}

function printer(opts: Partial<TablePrintOptions> = {}): { p: TablePrinter; flush: () => string } {
  let out = '';
  const tw = new TabWriter((s) => (out += s), getTabWriterOptions);
  return {
    p: new TablePrinter(tw, { wide: false, withNamespace: false, ...opts }),
    flush: () => {
      tw.flush();
      return out;
    },
  };
}

describe('TablePrinter', () => {
  it('prints upper-cased headers and hides priority-1 columns unless wide', () => {
    const narrow = printer();
    narrow.p.print(table([row('web-0', 'default')]));
    assert.equal(narrow.flush(), 'NAME    READY   RESTARTS   AGE\nweb-0   1/1     0          5s\n');
    const wide = printer({ wide: true });
    wide.p.print(table([row('web-0', 'default')]));
    assert.equal(
      wide.flush(),
      'NAME    READY   RESTARTS   AGE   IP\nweb-0   1/1     0          5s    10.0.0.5\n',
    );
  });

  it('adds NAMESPACE from the row objects, kind prefixes and LABELS', () => {
    const t = printer({ withNamespace: true, kindPrefix: 'pod', showLabels: true });
    t.p.print(table([row('web-0', 'apps', { app: 'web' })]));
    assert.equal(
      t.flush(),
      'NAMESPACE   NAME        READY   RESTARTS   AGE   LABELS\napps        pod/web-0   1/1     0          5s    app=web\n',
    );
  });

  it('prints headers once for watch events (which carry no column definitions) and pads event types', () => {
    const t = printer();
    t.p.print(table([row('a', 'd')]), 'ADDED');
    t.p.print(table([row('b', 'd')], false), 'MODIFIED');
    t.p.print(table([row('b', 'd')], false), 'DELETED');
    assert.equal(
      t.flush(),
      'EVENT      NAME   READY   RESTARTS   AGE\n' +
        'ADDED      a      1/1     0          5s\n' +
        'MODIFIED   b      1/1     0          5s\n' +
        'DELETED    b      1/1     0          5s\n',
    );
  });

  it('prints nothing, not even headers, for an empty table', () => {
    const t = printer();
    assert.equal(t.p.print(table([])), 0);
    assert.equal(t.flush(), '');
  });

  it('cuts cells at line breaks and makes escape characters visible', () => {
    assert.equal(cellText('first\nsecond'), 'first...');
    assert.equal(cellText('\x1b[31mred'), '^[[31mred');
    assert.equal(cellText(null), '');
    assert.equal(cellText(3), '3');
  });
});
