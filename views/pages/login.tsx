// Sign-in.
import { Card, Csrf, Field, FormMessage } from '../components/form.tsx';

export function LoginPage(p: {
  csrf: string;
  values: Record<string, unknown>;
  errors: Record<string, string>;
  message?: string | undefined;
  next: string;
}) {
  return (
    <div class="narrow">
      <h1>Sign in</h1>
      <Card>
        <form method="post" action="/login" class="stack">
          <Csrf token={p.csrf} />
          <input type="hidden" name="next" value={p.next} />
          <FormMessage message={p.message} />
          <Field
            name="username"
            label="Username"
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
            autocomplete="current-password"
          />
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      </Card>
    </div>
  );
}
