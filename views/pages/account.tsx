// Your account: change your own password (the current one proves it is you); your other sessions end.
import { Card, Csrf, Field, FormMessage } from '../components/form.tsx';

export function AccountPage(p: {
  username: string;
  role: string;
  csrf: string;
  errors: Record<string, string>;
  message?: string | undefined;
  saved: boolean;
}) {
  return (
    <div class="narrow">
      <h1>Your account</h1>
      <p class="muted">
        Signed in as <strong>{p.username}</strong> ({p.role}).
      </p>
      <Card title="Change your password">
        {p.saved && (
          <p class="notice" role="status">
            Your password was changed. Your other sessions have ended; API tokens keep working (revoke them under API
            tokens if they may be known).
          </p>
        )}
        <form method="post" action="/account/password" class="stack">
          <Csrf token={p.csrf} />
          <FormMessage message={p.message} />
          <Field
            name="current"
            label="Current password"
            type="password"
            errors={p.errors}
            required
            autocomplete="current-password"
          />
          <Field
            name="password"
            label="New password"
            type="password"
            errors={p.errors}
            required
            autocomplete="new-password"
            hint="At least 10 characters."
          />
          <Field
            name="confirm"
            label="New password again"
            type="password"
            errors={p.errors}
            required
            autocomplete="new-password"
          />
          <button type="submit" class="primary">
            Change password
          </button>
        </form>
      </Card>
    </div>
  );
}
