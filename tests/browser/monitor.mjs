// SPDX-License-Identifier: Apache-2.0
// Everything a page does that a test did not ask for: console errors and
// warnings, uncaught exceptions, failed requests, 5xx answers and 4xx answers
// the test did not provoke, native dialogs (the contract wants in-page ones),
// state-changing API requests without X-CSRF-Token. Every response is
// recorded; problems() lists the unexpected ones.
//
// A 4xx is expected only while a rule allowing it is active: allow({method,
// path (RegExp on the URL's pathname), status}) returns a function that ends
// the rule. Chromium logs "Failed to load resource: ... status of 4xx" as a
// console error for such an answer too; that message is excused only when
// its URL had an expected answer with that status.
//
// Failed requests: a request the page's own navigation cut (the test's
// goto/reload/close, marked with navigating()) is excused. A GET fetch to the
// API that failed with net::ERR_ABORTED is excused as the console cancelling
// its own polling (AbortController) and listed separately; every other failure
// (connection refused/reset, an aborted POST, a failed script or style) is a
// problem.

export class PageMonitor {
  constructor(page, label) {
    this.page = page;
    this.label = label;
    this.responses = [];
    this.rules = [];
    this.consoleMessages = [];
    this.issues = [];
    this.excusedAborts = [];
    this.navigatingDepth = 0;
    this.pending = [];

    page.on('console', (msg) => this.#onConsole(msg));
    page.on('pageerror', (err) => this.issues.push(`pageerror: ${err.message}\n${err.stack ?? ''}`));
    page.on('requestfailed', (req) => this.#onRequestFailed(req));
    page.on('response', (res) => this.#onResponse(res));
    page.on('request', (req) => this.#onRequest(req));
    page.on('dialog', (dialog) => {
      this.issues.push(`a native ${dialog.type()} dialog ("${dialog.message()}"): the contract wants confirm-dialog`);
      dialog.dismiss().catch(() => {});
    });
  }

  /** Allows a 4xx answer while the returned function has not been called. */
  allow({ method, path, status }) {
    const rule = { method, path, status, active: true };
    this.rules.push(rule);
    return () => { rule.active = false; };
  }

  /** Runs fn (a navigation the test makes) with aborted requests excused. */
  async navigating(fn) {
    this.navigatingDepth++;
    try {
      return await fn();
    } finally {
      // Failures of the cut requests are reported a moment later.
      setTimeout(() => { this.navigatingDepth--; }, 500);
    }
  }

  #onRequest(req) {
    const method = req.method();
    const url = new URL(req.url());
    if (method === 'GET' || method === 'HEAD' || !url.pathname.startsWith('/api/')) return;
    if (method === 'POST' && url.pathname === '/api/v1/session') return;  // the login itself
    this.pending.push(req.allHeaders().then((h) => {
      if (!h['x-csrf-token']) this.issues.push(`${method} ${url.pathname} without X-CSRF-Token`);
    }).catch(() => {}));
  }

  #onResponse(res) {
    const req = res.request();
    const url = new URL(res.url());
    const status = res.status();
    const entry = { method: req.method(), url: res.url(), path: url.pathname, status, at: Date.now() };
    this.responses.push(entry);
    if (status >= 500) {
      this.issues.push(`${entry.method} ${url.pathname}${url.search}: ${status}`);
      return;
    }
    if (status >= 400) {
      const rule = this.rules.find((r) => r.active && r.status === status &&
        (!r.method || r.method === entry.method) && r.path.test(url.pathname));
      if (rule) {
        entry.expected = true;
      } else {
        this.issues.push(`unexpected ${status}: ${entry.method} ${url.pathname}${url.search}`);
      }
    }
  }

  #onConsole(msg) {
    const type = msg.type();
    if (type !== 'error' && type !== 'warning') return;
    const loc = msg.location();
    // Judged in problems(): the response it may be about can be reported after it.
    this.consoleMessages.push({ type, text: msg.text(), url: loc?.url ?? '', line: loc?.lineNumber });
  }

  #judgeConsole({ type, text, url, line }) {
    const m = /status of (\d{3})/.exec(text);
    if (m && url) {
      const status = Number(m[1]);
      // The browser's own note of a 4xx answer the test provoked.
      if (status >= 400 && status < 500 && this.responses.some((r) => r.url === url && r.status === status && r.expected)) {
        return null;
      }
    }
    return `console ${type}: ${text}${url ? ` (${url}:${line})` : ''}`;
  }

  #onRequestFailed(req) {
    const failure = req.failure()?.errorText ?? 'unknown';
    const url = new URL(req.url());
    const what = `${req.method()} ${url.pathname}${url.search} (${req.resourceType()}): ${failure}`;
    if (this.navigatingDepth > 0 && failure === 'net::ERR_ABORTED') {
      this.excusedAborts.push(`${what} [cut by the test's navigation]`);
      return;
    }
    if (failure === 'net::ERR_ABORTED' && req.method() === 'GET' &&
        (req.resourceType() === 'fetch' || req.resourceType() === 'xhr') && url.pathname.startsWith('/api/')) {
      this.excusedAborts.push(`${what} [the console cancelled it]`);
      return;
    }
    this.issues.push(`request failed: ${what}`);
  }

  /** The unexpected things so far (after the pending header checks). */
  async problems() {
    await Promise.all(this.pending);
    const fromConsole = this.consoleMessages.map((m) => this.#judgeConsole(m)).filter(Boolean);
    return [...this.issues, ...fromConsole];
  }
}
