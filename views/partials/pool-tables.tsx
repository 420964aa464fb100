// Address and VLAN pools with their use, and the forms to add one; used by the wizard and Settings.
import { Csrf, Field, FormMessage } from '../components/form.tsx';

export interface PoolsProps {
  csrf: string;
  pools: {
    cidr: Array<{ id: number; cidr: string; subnetPrefix: number; capacity: number; used: number }>;
    vlan: Array<{ id: number; first: number; last: number; capacity: number; used: number }>;
  };
  cidrForm: { values: Record<string, unknown>; errors: Record<string, string>; message?: string | undefined };
  vlanForm: { values: Record<string, unknown>; errors: Record<string, string>; message?: string | undefined };
  canEdit: boolean;
}

export function PoolsView(p: PoolsProps & { action: string }) {
  return (
    <div class="pools" id="pools">
      <table>
        <thead>
          <tr>
            <th>Address pool</th>
            <th>Subnets of</th>
            <th>Used</th>
          </tr>
        </thead>
        <tbody>
          {p.pools.cidr.map((c) => (
            <tr>
              <td>{c.cidr}</td>
              <td>/{c.subnetPrefix}</td>
              <td>
                {c.used} of {c.capacity}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <table>
        <thead>
          <tr>
            <th>VLAN pool</th>
            <th>Used</th>
          </tr>
        </thead>
        <tbody>
          {p.pools.vlan.map((v) => (
            <tr>
              <td>
                {v.first}–{v.last}
              </td>
              <td>
                {v.used} of {v.capacity}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.canEdit && (
        <div class="two-col">
          <form method="post" action={`${p.action}/cidr`} class="stack">
            <h3>Add an address pool</h3>
            <Csrf token={p.csrf} />
            <FormMessage message={p.cidrForm.message} />
            <Field
              name="cidr"
              label="CIDR"
              values={p.cidrForm.values}
              errors={p.cidrForm.errors}
              placeholder="10.201.0.0/16"
            />
            <Field
              name="subnetPrefix"
              label="Subnet prefix"
              type="number"
              values={p.cidrForm.values}
              errors={p.cidrForm.errors}
              placeholder="24"
            />
            <button type="submit">Add address pool</button>
          </form>
          <form method="post" action={`${p.action}/vlan`} class="stack">
            <h3>Add a VLAN pool</h3>
            <Csrf token={p.csrf} />
            <FormMessage message={p.vlanForm.message} />
            <Field
              name="first"
              label="First VLAN"
              type="number"
              values={p.vlanForm.values}
              errors={p.vlanForm.errors}
            />
            <Field name="last" label="Last VLAN" type="number" values={p.vlanForm.values} errors={p.vlanForm.errors} />
            <button type="submit">Add VLAN pool</button>
          </form>
        </div>
      )}
    </div>
  );
}
