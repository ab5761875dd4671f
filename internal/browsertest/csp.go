package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// cspBinding is the function WatchCSP exposes to pages; calling it emits Runtime.bindingCalled.
const cspBinding = "__browsertestCSPViolation"

// cspListener runs in every new document before its own scripts (Page.addScriptToEvaluateOnNewDocument,
// which the page's CSP does not govern) and reports each securitypolicyviolation event through the
// binding. It keeps its own reference to the binding, so a page that deletes the global cannot silence it.
const cspListener = `(() => {
  const report = globalThis.` + cspBinding + `;
  if (typeof report !== "function") return;
  document.addEventListener("securitypolicyviolation", (e) => {
    report(JSON.stringify({
      directive: e.effectiveDirective || e.violatedDirective,
      blocked: e.blockedURI,
      disposition: e.disposition,
      source: e.sourceFile,
      line: e.lineNumber,
      document: e.documentURI,
    }));
  }, true);
})();`

// CSPViolation is one securitypolicyviolation event a page dispatched.
type CSPViolation struct {
	Directive   string `json:"directive"`   // the effective directive, e.g. "connect-src"
	Blocked     string `json:"blocked"`     // the blocked URL, or "inline", "eval", …
	Disposition string `json:"disposition"` // "enforce" or "report"
	Source      string `json:"source"`      // the script that caused it, when known
	Line        int    `json:"line"`
	Document    string `json:"document"` // the page it happened on
}

func (v CSPViolation) String() string {
	s := fmt.Sprintf("%s %s blocked %q on %s", v.Disposition, v.Directive, v.Blocked, v.Document)
	if v.Source != "" {
		s += fmt.Sprintf(" (from %s:%d)", v.Source, v.Line)
	}
	return s
}

// CSPEvents collects the securitypolicyviolation events of a tab; see [WatchCSP]. It is safe for
// concurrent use.
type CSPEvents struct {
	mu     sync.Mutex
	events []CSPViolation
}

// Violations returns the events recorded so far, in the order they arrived.
func (c *CSPEvents) Violations() []CSPViolation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CSPViolation(nil), c.events...)
}

// WatchCSP makes every document the tab of ctx (made by [NewBrowser]) loads from now on report its
// Content Security Policy violations as the page itself sees them: a securitypolicyviolation listener is
// installed before any of the page's scripts run, and each event reaches the returned CSPEvents (and
// t.Log) across navigations. Unlike [CSPViolations], which reads console messages, this catches every
// violation the page dispatches, whatever the console says. Call it before the first navigation to watch.
func WatchCSP(t testing.TB, ctx context.Context) *CSPEvents {
	t.Helper()
	c := collectorFrom(ctx)
	w := &CSPEvents{}
	chromedp.ListenTarget(ctx, func(ev any) {
		b, ok := ev.(*runtime.EventBindingCalled)
		if !ok || b.Name != cspBinding {
			return
		}
		var v CSPViolation
		if err := json.Unmarshal([]byte(b.Payload), &v); err != nil {
			v = CSPViolation{Directive: "(unreadable report)", Blocked: b.Payload}
		}
		w.mu.Lock()
		w.events = append(w.events, v)
		w.mu.Unlock()
		if c != nil {
			c.logf("browser: securitypolicyviolation: %s", v)
		}
	})
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := runtime.AddBinding(cspBinding).Do(ctx); err != nil {
			return fmt.Errorf("add binding: %w", err)
		}
		if _, err := page.AddScriptToEvaluateOnNewDocument(cspListener).Do(ctx); err != nil {
			return fmt.Errorf("add listener script: %w", err)
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("watch CSP violations: %v", err)
	}
	return w
}
