package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// StepTimeout bounds each [Step], so a hang fails naming the step.
const StepTimeout = 20 * time.Second

// pollInterval is how often WaitText and WaitPath look at the page.
const pollInterval = 100 * time.Millisecond

// xpathLiteral quotes s as an XPath 1.0 string literal.
func xpathLiteral(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	parts := strings.Split(s, `"`)
	return `concat("` + strings.Join(parts, `", '"', "`) + `")`
}

// Textbox returns an XPath selecting the input or textarea whose accessible
// name is label: by <label for>, by an enclosing <label>, or by aria-label.
// Use it with chromedp.BySearch (the default query option).
func Textbox(label string) string {
	l := xpathLiteral(label)
	return fmt.Sprintf(`//*[self::input or self::textarea][@id=//label[normalize-space()=%[1]s]/@for]`+
		` | //label[normalize-space()=%[1]s]//*[self::input or self::textarea]`+
		` | //*[self::input or self::textarea][@aria-label=%[1]s]`, l)
}

// Button returns an XPath selecting the button whose accessible name is name:
// its text, its aria-label, or the value of an input button.
// Use it with chromedp.BySearch (the default query option).
func Button(name string) string {
	n := xpathLiteral(name)
	return fmt.Sprintf(`//*[self::button or @role="button"][normalize-space()=%[1]s or @aria-label=%[1]s]`+
		` | //input[@type="submit" or @type="button"][@value=%[1]s]`, n)
}

// PageText returns the visible text of the page (document.body.innerText).
func PageText(ctx context.Context) (string, error) {
	var text string
	err := chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text))
	return text, err
}

// poll calls check every pollInterval until it reports done or ctx ends;
// then the error says what was still missing.
func poll(ctx context.Context, check func(ctx context.Context) (done bool, missing string, err error)) error {
	var missing string
	var lastErr error
	for {
		done, m, err := check(ctx)
		if err == nil && done {
			return nil
		}
		if err != nil {
			lastErr = err // e.g. the page navigated mid-evaluation: try again
		} else {
			missing = m
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", missing, errors.Join(ctx.Err(), lastErr))
		case <-time.After(pollInterval):
		}
	}
}

// WaitText waits until the page's visible text contains every one of texts.
func WaitText(texts ...string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		return poll(ctx, func(ctx context.Context) (bool, string, error) {
			page, err := PageText(ctx)
			if err != nil {
				return false, "", err
			}
			var missing []string
			for _, s := range texts {
				if !strings.Contains(page, s) {
					missing = append(missing, fmt.Sprintf("%q", s))
				}
			}
			return len(missing) == 0, "page text lacks " + strings.Join(missing, ", "), nil
		})
	})
}

// WaitPath waits until the page's URL path (location.pathname) is path.
func WaitPath(path string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		return poll(ctx, func(ctx context.Context) (bool, string, error) {
			var got string
			if err := chromedp.Run(ctx, chromedp.Evaluate(`location.pathname`, &got)); err != nil {
				return false, "", err
			}
			return got == path, fmt.Sprintf("URL path is %q, want %q", got, path), nil
		})
	})
}

// Step runs actions with a [StepTimeout] deadline. On failure it logs the
// page's URL and visible text, saves a screenshot, and fails the test with a
// message naming the step.
func Step(t testing.TB, ctx context.Context, name string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		Diagnose(t, ctx, name)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("step %q: timed out after %s: %v", name, StepTimeout, err)
		}
		t.Fatalf("step %q: %v", name, err)
	}
}

// fileName turns a step label into a safe file name.
func fileName(label string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, label)
}

// Diagnose logs what the browser shows (URL, visible text) and saves a
// full-page screenshot into a directory that outlives the test (its path is
// logged). Call it when a test is about to fail.
func Diagnose(t testing.TB, ctx context.Context, label string) {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	var url string
	if err := chromedp.Run(dctx, chromedp.Location(&url)); err != nil {
		t.Logf("diagnose %q: cannot read the URL: %v", label, err)
	}
	text, err := PageText(dctx)
	if err != nil {
		t.Logf("diagnose %q: cannot read the page text: %v", label, err)
	}
	t.Logf("diagnose %q: URL %s\n--- visible text ---\n%s\n--- end ---", label, url, text)

	var png []byte
	if err := chromedp.Run(dctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("diagnose %q: screenshot failed: %v", label, err)
		return
	}
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		t.Logf("diagnose %q: %v", label, err)
		return
	}
	file := filepath.Join(dir, fileName(label)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("diagnose %q: %v", label, err)
		return
	}
	t.Logf("diagnose %q: screenshot saved to %s", label, file)
}
