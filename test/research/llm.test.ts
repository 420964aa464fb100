// The optional LLM against a small HTTP server on 127.0.0.1 that speaks the /v1/chat/completions shape.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createResearch } from '../../server/research/index.ts';
import { createLlm } from '../../server/research/llm.ts';

type Reply = { status: number; body: string; delayMs?: number };
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }> =
  [];
let replies: Reply[] = [];
let server: http.Server;
let base: string;

const completion = (content: string) =>
  JSON.stringify({
    id: 'c1',
    object: 'chat.completion',
    model: 'local-7b',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: JSON.parse(raw || '{}') as Record<string, unknown>,
      });
      const r = replies.shift() ?? { status: 500, body: 'no reply queued' };
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
      };
      if (r.delayMs) setTimeout(send, r.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
  replies = [];
});

const fast = { attempts: 3, baseMs: 5, maxMs: 20 };

describe('LLM drafts', () => {
  it('posts an OpenAI-style chat completion with the key as a bearer token and returns a marked draft', async () => {
    replies.push({ status: 200, body: completion('  Redis answers anyone on the network.  ') });
    const llm = createLlm({ baseUrl: `${base}/`, model: 'local-7b' }, { secret: 's3cret-key', retry: fast });
    const d = await llm.draftModuleDescription(
      'Redis without authentication (redis-noauth) is a network service module.',
      'redis-noauth',
    );
    expect(d).toMatchObject({
      draft: true,
      text: 'Redis answers anyone on the network.',
      model: 'local-7b',
      label: 'Draft by local-7b: not reviewed, check every fact before use',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: 'Bearer s3cret-key', 'content-type': 'application/json' },
    });
    expect(seen[0]!.body).toMatchObject({ model: 'local-7b', stream: false, max_tokens: 800 });
    const messages = seen[0]!.body.messages as Array<{ role: string; content: string }>;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[1]!.content).toContain('Redis without authentication (redis-noauth) is a network service module.');
  });

  it('sends no authorization header without a key', async () => {
    replies.push({ status: 200, body: completion('ok') });
    await createLlm({ baseUrl: base, model: 'm' }).draftExplanation('facts', 'CVE-1');
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('retries a busy endpoint, with a bound', async () => {
    replies.push(
      { status: 503, body: 'loading model' },
      { status: 429, body: 'slow down' },
      { status: 200, body: completion('third time') },
    );
    const d = await createLlm({ baseUrl: base, model: 'm' }, { retry: fast }).draftExplanation('facts', 'CVE-1');
    expect(d.text).toBe('third time');
    expect(seen).toHaveLength(3);

    replies.push(
      { status: 503, body: 'a' },
      { status: 503, body: 'b' },
      { status: 503, body: 'c' },
      { status: 200, body: completion('never asked') },
    );
    await expect(
      createLlm({ baseUrl: base, model: 'm' }, { retry: fast }).draftExplanation('facts', 'CVE-1'),
    ).rejects.toMatchObject({
      code: 'transient',
      message: '[llm] Unable to draft an explanation of CVE-1: HTTP 503: c',
    });
    expect(seen).toHaveLength(6);
  });

  it('gives up after its timeout, and stops at once when the caller aborts', async () => {
    replies.push({ status: 200, body: completion('too late'), delayMs: 2000 });
    const t0 = Date.now();
    await expect(
      createLlm({ baseUrl: base, model: 'm', timeoutMs: 100 }, { retry: fast }).draftExplanation('f', 'CVE-1'),
    ).rejects.toMatchObject({
      code: 'timeout',
      message: '[llm] Unable to draft an explanation of CVE-1: no answer within 100 ms',
    });
    expect(Date.now() - t0).toBeLessThan(1900);

    replies.push({ status: 200, body: completion('too late'), delayMs: 2000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('page closed')), 50);
    await expect(
      createLlm({ baseUrl: base, model: 'm' }, { retry: fast }).draftExplanation('f', 'CVE-1', ac.signal),
    ).rejects.toThrow('page closed');
  });

  it('reports a refused key without the key, and an endpoint that is not a chat API', async () => {
    replies.push({ status: 401, body: '{"error":"invalid key s3cret-key"}' });
    const e = await createLlm({ baseUrl: base, model: 'm' }, { secret: 's3cret-key', retry: fast })
      .draftModuleDescription('f', 'weak-ssh')
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'platform_error', hint: 'Check the API key of the LLM endpoint in Settings.' });
    expect((e as Error).message).toBe(
      '[llm] Unable to draft the description of module "weak-ssh": HTTP 401: {"error":"invalid key [key]"}',
    );

    replies.push({ status: 200, body: '<html>not here</html>' });
    await expect(createLlm({ baseUrl: base, model: 'm' }).draftExplanation('f', 'x')).rejects.toThrow(
      'the answer is not JSON (is the base URL the OpenAI-compatible /v1?)',
    );
    replies.push({ status: 200, body: '{"choices": []}' });
    await expect(createLlm({ baseUrl: base, model: 'm' }).draftExplanation('f', 'x')).rejects.toThrow(
      /the answer is not a chat completion: choices: /,
    );
  });

  it('refuses settings that are not a URL and a model', () => {
    expect(() => createLlm({ baseUrl: 'ftp://x', model: 'm' })).toThrow(
      /^Invalid LLM endpoint settings: llm\.baseUrl: /,
    );
    expect(() => createLlm({ baseUrl: base, model: '' })).toThrow(/llm\.model: /);
  });

  it('drafts through the research agent, from the imported facts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-llm-'));
    const research = createResearch({ dataDir: dir, llm: { baseUrl: base, model: 'local-7b' } }, { llmKey: 'k' });
    await research.importFeed(path.resolve('test/fixtures/cve/nvd-2.0-feed.json'));
    replies.push({ status: 200, body: completion('An explanation.') });
    const d = await research.draftExplanation('CVE-2011-2523');
    expect(d).toMatchObject({ draft: true, text: 'An explanation.' });
    const user = (seen[0]!.body.messages as Array<{ content: string }>)[1]!.content;
    expect(user).toContain('CVE-2011-2523 (CVSS 3.1 9.8 CRITICAL)');
    expect(user).toContain('Affected: vsftpd_project vsftpd');
    await expect(research.draftExplanation('CVE-2000-0001')).rejects.toThrow(
      'CVE CVE-2000-0001 is not in the imported data',
    );
    expect(research.status().llm).toEqual({ model: 'local-7b' });
    await research.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
