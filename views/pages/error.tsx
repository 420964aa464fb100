// A page for an error the user should read: what went wrong and what they can do.
export function ErrorPage({ status, message, hint }: { status: number; message: string; hint?: string | undefined }) {
  return (
    <div class="narrow">
      <h1>
        {status === 404
          ? 'Not found'
          : status === 403
            ? 'Not allowed'
            : status === 429
              ? 'Too many attempts'
              : 'Something went wrong'}
      </h1>
      <p class="alert">{message}</p>
      {hint && <p>{hint}</p>}
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </div>
  );
}
