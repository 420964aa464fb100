// The optional language model: an OpenAI-compatible chat completions endpoint the admin configures (often a local
// model in an air-gapped room). It only drafts module descriptions and explanations, each returned marked as a draft;
// nothing else depends on it. Calls have a timeout, follow the caller's AbortSignal and retry transient failures.
import { z } from 'zod';
import { AppError, errorMessage } from '../errors.ts';
import { withRetry, type RetryPolicy } from '../platforms/shared/retry.ts';

export const llmConfigSchema = z.object({
  /** Up to and including the API version, e.g. http://10.0.0.5:8000/v1; /chat/completions is appended. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  model: z.string().min(1),
  timeoutMs: z.number().int().positive().max(600_000).default(60_000),
  maxTokens: z.number().int().positive().max(32_000).default(800),
});

export type LlmConfig = z.input<typeof llmConfigSchema>;

export interface Draft {
  draft: true;
  /** What the page shows above the text. */
  label: string;
  text: string;
  model: string;
  createdAt: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmDeps {
  /** The endpoint's API key, unsealed by the caller; sent as a bearer token, never logged or returned. */
  secret?: string;
  fetch?: typeof fetch;
  retry?: RetryPolicy;
}

const responseSchema = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});

const system =
  'You write short, accurate texts for instructors of a cyber range. Use only the facts given. Do not invent CVE ' +
  'numbers, versions or commands. Plain text, no Markdown headings.';

export function createLlm(config: LlmConfig, deps: LlmDeps = {}) {
  const parsed = llmConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: `llm.${i.path.join('.')}`, message: i.message }));
    throw new AppError(
      'invalid_input',
      `Invalid LLM endpoint settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      {
        issues,
        hint: 'Give the base URL up to the API version (http://host:port/v1) and a model name.',
      },
    );
  }
  const c = parsed.data;
  const url = `${c.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const doFetch = deps.fetch ?? fetch;
  const retry = deps.retry ?? { attempts: 3, baseMs: 500, maxMs: 4000 };
  const redact = (s: string) => (deps.secret ? s.split(deps.secret).join('[key]') : s);

  /** One completion; throws AppError (timeout, transient, rate_limited, platform_error) or the abort reason. */
  async function chat(
    messages: ChatMessage[],
    what: string,
    signal?: AbortSignal,
  ): Promise<{ text: string; model: string }> {
    return withRetry(
      retry,
      async () => {
        const timeout = AbortSignal.timeout(c.timeoutMs);
        const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
        let res: Response;
        try {
          res = await doFetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json',
              ...(deps.secret ? { authorization: `Bearer ${deps.secret}` } : {}),
            },
            body: JSON.stringify({
              model: c.model,
              messages,
              temperature: 0.2,
              max_tokens: c.maxTokens,
              stream: false,
            }),
            signal: combined,
          });
        } catch (e) {
          if (signal?.aborted) throw e;
          if (timeout.aborted) throw fail('timeout', what, `no answer within ${c.timeoutMs} ms`, e);
          throw fail('transient', what, `cannot reach ${c.baseUrl}: ${errorMessage(e)}`, e);
        }
        let body: string;
        try {
          body = await res.text();
        } catch (e) {
          if (signal?.aborted) throw e;
          throw fail(timeout.aborted ? 'timeout' : 'transient', what, `the answer was cut off: ${errorMessage(e)}`, e);
        }
        if (!res.ok) {
          // A refused key is the endpoint's error, not the appliance user's: platform_error (502), never a 401 of ours.
          const code = res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'transient' : 'platform_error';
          const hint =
            res.status === 401 || res.status === 403 ? 'Check the API key of the LLM endpoint in Settings.' : undefined;
          throw fail(code, what, `HTTP ${res.status}: ${redact(body.slice(0, 300))}`, undefined, hint);
        }
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch (e) {
          throw fail('platform_error', what, 'the answer is not JSON (is the base URL the OpenAI-compatible /v1?)', e);
        }
        const r = responseSchema.safeParse(json);
        if (!r.success)
          throw fail(
            'platform_error',
            what,
            `the answer is not a chat completion: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`,
          );
        const text = r.data.choices[0]!.message.content?.trim() ?? '';
        if (!text) throw fail('platform_error', what, 'the model returned no text');
        return { text, model: r.data.model ?? c.model };
      },
      signal ? { signal } : {},
    );
  }

  function fail(
    code: 'timeout' | 'transient' | 'rate_limited' | 'platform_error',
    what: string,
    cause: string,
    e?: unknown,
    hint = 'Check the LLM endpoint in Settings; everything but drafts works without it.',
  ): AppError {
    return new AppError(code, `[llm] Unable to draft ${what}: ${cause}`, {
      hint,
      ...(e === undefined ? {} : { cause: e }),
    });
  }

  const draft = (text: string, model: string): Draft => ({
    draft: true,
    label: `Draft by ${model}: not reviewed, check every fact before use`,
    text,
    model,
    createdAt: new Date().toISOString(),
  });

  return {
    model: c.model,
    async draftModuleDescription(facts: string, moduleId: string, signal?: AbortSignal): Promise<Draft> {
      const r = await chat(
        [
          { role: 'system', content: system },
          {
            role: 'user',
            content: `Write the description (at most 120 words) a trainee reads for this vulnerability module, without giving the solution away.\n\n${facts}`,
          },
        ],
        `the description of module "${moduleId}"`,
        signal,
      );
      return draft(r.text, r.model);
    },
    async draftExplanation(facts: string, subject: string, signal?: AbortSignal): Promise<Draft> {
      const r = await chat(
        [
          { role: 'system', content: system },
          {
            role: 'user',
            content: `Explain for an instructor (at most 150 words) what this is, how it is exploited in principle and how it is fixed.\n\n${facts}`,
          },
        ],
        `an explanation of ${subject}`,
        signal,
      );
      return draft(r.text, r.model);
    },
  };
}

export type Llm = ReturnType<typeof createLlm>;
