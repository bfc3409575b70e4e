/**
 * The backends' shared record store (src/host/record-dir.ts) on a temp dir: records round-trip in both layouts and
 * keep the bytes the backends always wrote (records on disk must load with no migration); a corrupt file, a
 * missing one or one of another version is skipped (and logged when the store has a logger) while the rest load;
 * an ID that could leave the directory is refused; temp files of an interrupted write are no records.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../src/log/logger';
import { RecordDir, type RecordDirOptions } from '../../src/host/record-dir';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/util/fs';

interface Rec {
  readonly version: number;
  readonly id: string;
  readonly note?: string;
}

const files = { writeAtomic: writeFileAtomic, writeAtomicSync: writeFileAtomicSync };

describe('RecordDir', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-recorddir-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', write: (l) => lines.push(l) });
  const store = (opts: Partial<RecordDirOptions> = {}): { dir: string; records: RecordDir<Rec> } => {
    const dir = path.join(root, `d${n++}`);
    return { dir, records: new RecordDir<Rec>({ dir, version: 1, kind: 'sandbox', files, log, ...opts }) };
  };

  it('round-trips flat records as <dir>/<id>.json, compact and with the given mode', async () => {
    const { dir, records } = store({ mode: 0o640 });
    const rec = { version: 1, id: 'a1', note: 'x' };
    await records.put(rec);
    const file = path.join(dir, 'a1.json');
    assert.equal(fs.readFileSync(file, 'utf8'), JSON.stringify(rec));
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(await records.get('a1'), rec);
    assert.deepEqual([...(await records.list())], [['a1', rec]]);
    await records.remove('a1');
    assert.equal(await records.get('a1'), undefined);
    assert.equal((await records.list()).size, 0);
    await records.remove('a1'); // removing what is gone is no error
  });

  it('round-trips records in per-object dirs, indented as asked, in the async and the sync form', async () => {
    const { dir, records } = store({ fileName: 'sandbox.json', indent: 1 });
    const a = { version: 1, id: 'a', note: 'async' };
    const b = { version: 1, id: 'b', note: 'sync' };
    await records.put(a);
    records.putSync(b);
    // The bytes runc always wrote: a record of an earlier crimux loads as it is.
    assert.equal(fs.readFileSync(path.join(dir, 'a', 'sandbox.json'), 'utf8'), JSON.stringify(a, null, 1));
    assert.equal(fs.readFileSync(path.join(dir, 'b', 'sandbox.json'), 'utf8'), JSON.stringify(b, null, 1));
    const byId = (m: Map<string, Rec>): [string, Rec][] => [...m].sort(([x], [y]) => x.localeCompare(y));
    assert.deepEqual(byId(await records.list()), [
      ['a', a],
      ['b', b],
    ]);
    assert.deepEqual(byId(records.listSync()), byId(await records.list()));
    // remove takes the record only: the object's dir is its owner's.
    await records.remove('a');
    assert.ok(fs.existsSync(path.join(dir, 'a')));
    assert.deepEqual([...records.listSync().keys()], ['b']);
  });

  it('skips and logs a corrupt record, a missing one and a non-object; the others load', async () => {
    const { dir, records } = store({ fileName: 'sandbox.json' });
    await records.put({ version: 1, id: 'good' });
    fs.mkdirSync(path.join(dir, 'torn'));
    fs.writeFileSync(path.join(dir, 'torn', 'sandbox.json'), '{"version":1,"id":"to');
    fs.mkdirSync(path.join(dir, 'null'));
    fs.writeFileSync(path.join(dir, 'null', 'sandbox.json'), 'null');
    fs.mkdirSync(path.join(dir, 'empty')); // a create cut short before its first write
    lines.length = 0;
    assert.deepEqual([...(await records.list()).keys()], ['good']);
    assert.equal(lines.filter((l) => l.includes('skip unreadable sandbox record')).length, 3);
    for (const id of ['torn', 'null', 'empty'])
      assert.ok(
        lines.some((l) => l.includes(path.join(dir, id))),
        id,
      );
    lines.length = 0;
    assert.deepEqual([...records.listSync().keys()], ['good']);
    assert.equal(lines.length, 3);
    // get: a bad record is reported, a missing one is not (absence is an answer, not a fault).
    lines.length = 0;
    assert.equal(await records.get('torn'), undefined);
    assert.equal(await records.get('nothing'), undefined);
    assert.equal(lines.length, 1);
  });

  it('skips a record of another version, logging it as runc does; silently without a logger, as vm does', async () => {
    const { dir, records } = store();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'old.json'), JSON.stringify({ version: 0, id: 'old' }));
    fs.writeFileSync(path.join(dir, 'new.json'), JSON.stringify({ version: 2, id: 'new' }));
    fs.writeFileSync(path.join(dir, 'none.json'), JSON.stringify({ id: 'none' }));
    await records.put({ version: 1, id: 'cur' });
    lines.length = 0;
    assert.deepEqual([...(await records.list()).keys()], ['cur']);
    assert.equal(await records.get('new'), undefined);
    assert.equal(lines.filter((l) => l.includes('skip sandbox record of unknown version')).length, 4);

    const quiet = new RecordDir<Rec>({ dir, version: 1, kind: 'pod', files });
    lines.length = 0;
    assert.deepEqual([...quiet.listSync().keys()], ['cur']);
    fs.writeFileSync(path.join(dir, 'torn.json'), '{');
    assert.deepEqual([...(await quiet.list()).keys()], ['cur']);
    assert.deepEqual(lines, []);
  });

  it('refuses an ID that could leave the directory, and never reads one', async () => {
    const { dir, records } = store();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(root, 'outside.json'), JSON.stringify({ version: 1, id: 'outside' }));
    for (const id of ['../outside', 'a/b', '.hidden', '..', '', 'x'.repeat(129)]) {
      await assert.rejects(records.put({ version: 1, id }), /sandbox record: unsafe id/, id);
      assert.throws(() => records.putSync({ version: 1, id }), /unsafe id/, id);
      await assert.rejects(records.remove(id), /unsafe id/, id);
      assert.equal(await records.get(id), undefined, id);
    }
    assert.ok(fs.existsSync(path.join(root, 'outside.json')), 'remove reached nothing outside');
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('takes no temp file of an interrupted write, nor another file, for a record', async () => {
    const { dir, records } = store();
    await records.put({ version: 1, id: 'a' });
    fs.writeFileSync(path.join(dir, '.a.json.0123456789ab.tmp'), JSON.stringify({ version: 1, id: 'a' }));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    lines.length = 0;
    assert.deepEqual([...(await records.list()).keys()], ['a']);
    assert.deepEqual(lines, []);
  });

  it('lists nothing, without a fault, when the directory does not exist yet', async () => {
    const { records } = store();
    assert.equal((await records.list()).size, 0);
    assert.equal(records.listSync().size, 0);
  });
});
