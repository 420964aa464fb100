// Answer files as XML: a strict parser (@xmldom/xmldom: any warning fails) and the shape the unattend schema gives
// them: passes in Setup's order, components with their identity attributes, list items marked wcm:action="add",
// and passwords only in the encoded form.
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import { unattendPasses } from '../../../server/agents/windows/unattend.ts';

// The few DOM members used here, typed locally: @xmldom's own declarations pull in the DOM lib, whose Performance
// type then hides Node's in the rest of the project (the type check of test/bench fails).
export interface Element {
  localName: string;
  namespaceURI: string | null;
  nodeType: number;
  firstChild: Element | null;
  nextSibling: Element | null;
  parentNode: Element | null;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getAttributeNS(ns: string, name: string): string | null;
}
export interface Document {
  documentElement: Element | null;
  getElementsByTagNameNS(ns: string, name: string): ArrayLike<Element>;
}
type ErrorFn = (msg: string) => void;
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as {
  DOMParser: new (o: { errorHandler: { warning: ErrorFn; error: ErrorFn; fatalError: ErrorFn } }) => {
    parseFromString(text: string, mime: string): Document;
  };
};

export const ns = 'urn:schemas-microsoft-com:unattend';
export const wcm = 'http://schemas.microsoft.com/WMIConfig/2002/State';

export function parseXml(text: string): Document {
  const fail = (msg: string) => {
    throw new Error(`XML: ${msg}`);
  };
  return new DOMParser({ errorHandler: { warning: fail, error: fail, fatalError: fail } }).parseFromString(
    text,
    'text/xml',
  );
}

export const children = (e: Element, name?: string): Element[] => {
  const out: Element[] = [];
  for (let n = e.firstChild; n; n = n.nextSibling)
    if (n.nodeType === 1 && (name === undefined || (n as Element).localName === name)) out.push(n as Element);
  return out;
};
export const child = (e: Element, name: string): Element => {
  const c = children(e, name);
  if (c.length !== 1) throw new Error(`expected one <${name}> in <${e.localName}>, found ${c.length}`);
  return c[0]!;
};
export const text = (e: Element, name: string): string => child(e, name).textContent ?? '';
export const all = (doc: Document, name: string): Element[] => Array.from(doc.getElementsByTagNameNS(ns, name));

/** Every structural rule the tests hold an answer file to; returns the settings passes in document order. */
export function checkUnattendShape(doc: Document): string[] {
  const root = doc.documentElement!;
  expect(root.localName).toBe('unattend');
  expect(root.namespaceURI).toBe(ns);
  const passes = children(root).map((s) => {
    expect(s.localName).toBe('settings');
    return s.getAttribute('pass')!;
  });
  const order = passes.map((p) => unattendPasses.indexOf(p as (typeof unattendPasses)[number]));
  expect(order.every((o) => o >= 0)).toBe(true);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  expect(new Set(passes).size).toBe(passes.length);
  for (const settings of children(root)) {
    const names = children(settings).map((c) => {
      expect(c.localName).toBe('component');
      expect(c.getAttribute('processorArchitecture')).toBe('amd64');
      expect(c.getAttribute('publicKeyToken')).toBe('31bf3856ad364e35');
      expect(c.getAttribute('language')).toBe('neutral');
      expect(c.getAttribute('versionScope')).toBe('nonSxS');
      expect(children(c).length).toBeGreaterThan(0);
      return c.getAttribute('name')!;
    });
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(new Set(names).size).toBe(names.length);
  }
  // List items are added with wcm:action; keyed lists carry wcm:keyValue.
  for (const item of [
    'Interface',
    'IpAddress',
    'Route',
    'LocalAccount',
    'SynchronousCommand',
    'PathAndCredentials',
    'CreatePartition',
    'ModifyPartition',
    'Disk',
    'MetaData',
  ]) {
    for (const e of all(doc, item)) expect(e.getAttributeNS(wcm, 'action')).toBe('add');
  }
  for (const e of [...all(doc, 'IpAddress'), ...all(doc, 'PathAndCredentials')])
    expect(e.getAttributeNS(wcm, 'keyValue')).toMatch(/^\d+$/);
  // Passwords: Value + PlainText false, nothing else.
  for (const p of [...all(doc, 'Password'), ...all(doc, 'AdministratorPassword')]) {
    expect(
      children(p)
        .map((c) => c.localName)
        .sort(),
    ).toEqual(['PlainText', 'Value']);
    expect(text(p, 'PlainText')).toBe('false');
  }
  return passes;
}
