// The first-boot wizard: setup code and admin account -> platform -> pools -> done.
import type { ConnectionReport } from '../../server/model/connection-report.ts';
import type { PlatformKindForm } from '../props.ts';
import { Card, Csrf, Field, FormMessage } from '../components/form.tsx';
import { PlatformConfigFields } from '../components/platform-form.tsx';
import { ConnectionReportView } from '../partials/connection-report-view.tsx';
import { PoolsView, type PoolsProps } from '../partials/pool-tables.tsx';

interface FormProps {
  csrf: string;
  values: Record<string, unknown>;
  errors: Record<string, string>;
  message?: string | undefined;
}

const steps = ['Admin account', 'Platform', 'Address pools', 'Done'];

function Steps({ current }: { current: number }) {
  return (
    <ol class="wizard-steps">
      {steps.map((s, i) => (
        <li class={i === current ? 'current' : i < current ? 'done' : ''}>{s}</li>
      ))}
    </ol>
  );
}

export function SetupAdminPage(p: FormProps) {
  return (
    <div class="narrow">
      <h1>Set up this appliance</h1>
      <Steps current={0} />
      <Card>
        <p>
          Enter the setup code the appliance printed when it started. It is also in the file <code>setup-code.txt</code>{' '}
          in its data folder, readable only by the account that runs it.
        </p>
        <form method="post" action="/setup" class="stack">
          <Csrf token={p.csrf} />
          <FormMessage message={p.message} />
          <Field
            name="code"
            label="Setup code"
            values={p.values}
            errors={p.errors}
            required
            autocomplete="off"
            placeholder="XXXX-XXXX-XXXX"
          />
          <Field
            name="username"
            label="Admin username"
            values={p.values}
            errors={p.errors}
            required
            autocomplete="username"
          />
          <Field
            name="password"
            label="Password"
            type="password"
            errors={p.errors}
            required
            autocomplete="new-password"
            hint="At least 10 characters."
          />
          <Field
            name="confirm"
            label="Repeat the password"
            type="password"
            errors={p.errors}
            required
            autocomplete="new-password"
          />
          <button type="submit" class="primary">
            Create admin account
          </button>
        </form>
      </Card>
    </div>
  );
}

export function SetupPlatformPage(
  p: FormProps & { kinds: PlatformKindForm[]; selected: string; report?: ConnectionReport | undefined },
) {
  const form = p.kinds.find((k) => k.kind === p.selected) ?? p.kinds[0]!;
  return (
    <div class="narrow">
      <h1>Connect a platform</h1>
      <Steps current={1} />
      <Card>
        <p>
          Where ranges are deployed. The built-in simulator needs nothing and is ready to try; other platforms appear
          here as their drivers are installed.
        </p>
        <form method="get" action="/setup/platform" class="kind-picker">
          {p.kinds.map((k) => (
            <label class={`kind${k.kind === form.kind ? ' selected' : ''}`}>
              <input
                type="radio"
                name="kind"
                value={k.kind}
                checked={k.kind === form.kind}
                hx-get="/setup/platform"
                hx-trigger="change"
                hx-target="body"
                hx-push-url="true"
              />
              {k.title}
            </label>
          ))}
          <noscript>
            <button type="submit">Choose</button>
          </noscript>
        </form>
        <form method="post" action="/setup/platform" class="stack" id="platform-form">
          <Csrf token={p.csrf} />
          <input type="hidden" name="kind" value={form.kind} />
          <FormMessage message={p.message} />
          <Field
            name="name"
            label="Name"
            values={p.values}
            errors={p.errors}
            required
            value={p.values.name === undefined ? form.kind : String(p.values.name)}
          />
          <PlatformConfigFields form={form} values={p.values} errors={p.errors} />
          <ConnectionReportView report={p.report} />
          <div class="buttons">
            <button
              type="button"
              hx-post="/setup/platform/test"
              hx-include="#platform-form"
              hx-target="#connection-report"
              hx-swap="outerHTML"
            >
              Test connection
            </button>
            <button type="submit" class="primary">
              Save and continue
            </button>
          </div>
        </form>
      </Card>
    </div>
  );
}

export function SetupPoolsPage(p: PoolsProps & { csrf: string }) {
  return (
    <div class="narrow">
      <h1>Address and VLAN pools</h1>
      <Steps current={2} />
      <Card>
        <p>
          Scenario networks without their own CIDR get a subnet from an address pool; on Proxmox and ESXi every network
          of every instance gets a VLAN from a VLAN pool. Defaults are in place; add more if they clash with your
          network.
        </p>
        <PoolsView {...p} action="/setup/pools" />
        <form method="post" action="/setup/pools/done" class="buttons step-next">
          <Csrf token={p.csrf} />
          <button type="submit" class="primary">
            Continue
          </button>
        </form>
      </Card>
    </div>
  );
}

export function SetupDonePage({
  csrf,
  platforms,
  scenarios,
}: {
  csrf: string;
  platforms: string[];
  scenarios: string[];
}) {
  return (
    <div class="narrow">
      <h1>Ready</h1>
      <Steps current={3} />
      <Card>
        <p>Platforms: {platforms.join(', ')}.</p>
        <p>Sample scenarios in the library: {scenarios.join(', ')}.</p>
        <p>Finishing removes the setup wizard; the setup code stops working.</p>
        <form method="post" action="/setup/finish">
          <Csrf token={csrf} />
          <button type="submit" class="primary">
            Finish and open the dashboard
          </button>
        </form>
      </Card>
    </div>
  );
}
