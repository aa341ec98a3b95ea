/**
 * Token mode (`vigil serve` with a token, or a viewer token): the server refused the
 * session, so the page asks for the token, keeps it in sessionStorage (gone when the tab
 * closes) and sends it as `Authorization: Bearer`.
 *
 * @module
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";

export function TokenPrompt({
  error,
  onToken,
}: {
  error?: string | undefined;
  onToken: (t: string) => void;
}): JSX.Element {
  const [token, setToken] = useState("");
  return (
    <div class="modal-backdrop">
      <form
        class="modal token-prompt"
        aria-label="Access token"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <h2>Access token</h2>
        <p>This audit log needs a token. It is kept for this tab only and sent as a bearer header.</p>
        <label>
          Token
          <input
            type="password"
            autocomplete="off"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            // biome-ignore lint/a11y/noAutofocus: the prompt is the only thing on the page
            autoFocus
          />
        </label>
        {error ? (
          <p class="token-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="btn primary">
          Open the audit log
        </button>
      </form>
    </div>
  );
}
