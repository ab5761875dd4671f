package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// AxeVersion is the version of the vendored axe-core (axe/axe.min.js, from the npm registry; see
// axe/README.md).
const AxeVersion = "4.14.1"

// axeSource is axe-core's browser build. It is embedded here, in test support code, and injected into
// the page under test over the DevTools protocol; the app never serves it.
//
//go:embed axe/axe.min.js
var axeSource string

// AxeSource returns the vendored axe-core script (axe.min.js of [AxeVersion]).
func AxeSource() string { return axeSource }

// DefaultAxeTags are the rule tags [Axe] runs when given none: WCAG 2.0, 2.1 and 2.2, levels A and AA.
func DefaultAxeTags() []string {
	return []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}
}

// Violation is one axe-core rule the page fails, with every element that fails it.
type Violation struct {
	ID      string          `json:"id"`     // the rule, e.g. "color-contrast"
	Impact  string          `json:"impact"` // "minor", "moderate", "serious" or "critical"
	Help    string          `json:"help"`   // what the rule asks for, in one line
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"`
}

// ViolationNode is one element that fails a rule.
type ViolationNode struct {
	Target  []string `json:"target"`  // CSS selectors, one per frame (shadow roots joined with " >>> ")
	HTML    string   `json:"html"`    // the element's opening markup, shortened
	Summary string   `json:"summary"` // axe's failure summary (e.g. the contrast ratio found), shortened
}

// String describes the violation and each failing element on its own line, for a test failure.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s [%d element(s)] %s", v.ID, v.Impact, v.Help, len(v.Nodes), v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    - %s: %s", strings.Join(n.Target, " | "), n.HTML)
		if n.Summary != "" {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(n.Summary, "\n", " "))
		}
	}
	return b.String()
}

// FormatViolations lists violations one after another, for a test failure message.
func FormatViolations(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = "  " + v.String()
	}
	return strings.Join(parts, "\n")
}

// axeRunJS runs axe on the whole document with the tags of %s (a JSON array) and returns the violations
// as a JSON string shaped like []Violation. Only violations are collected (resultTypes), which keeps the
// run short.
const axeRunJS = `(async () => {
  const cut = (s, n) => { s = String(s || "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
  const r = await axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]});
  return JSON.stringify(r.violations.map((v) => ({
    id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.map((t) => Array.isArray(t) ? t.join(" >>> ") : String(t)),
      html: cut(n.html, 200),
      summary: cut(n.failureSummary, 400),
    })),
  })));
})()`

// settleJS is true once the document has loaded, its fonts are ready and no finite animation or CSS
// transition is running (colours read mid-transition would make contrast results flaky; endless
// animations such as spinners are ignored).
const settleJS = `document.readyState === "complete" && (!document.fonts || document.fonts.status === "loaded") &&
  document.getAnimations().every((a) => a.playState !== "running" || !a.effect ||
    !Number.isFinite(a.effect.getComputedTiming().endTime))`

// axeSettleTimeout bounds the wait for animations before an axe run; after it axe runs anyway.
const axeSettleTimeout = 3 * time.Second

// Axe runs axe-core on the page of ctx and returns the rules it violates; an empty result means none.
// With no tags it runs [DefaultAxeTags]. axe is injected with Runtime.evaluate when the page does not
// hold it yet; DevTools evaluation is not governed by the page's Content Security Policy, so a strict
// script-src does not block it, and axe itself loads nothing. It first waits (briefly) for running
// transitions to end, so emulated colour-scheme changes have taken effect.
func Axe(ctx context.Context, tags ...string) ([]Violation, error) {
	if len(tags) == 0 {
		tags = DefaultAxeTags()
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	var out string
	err = chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := injectAxe(ctx); err != nil {
			return err
		}
		waitSettled(ctx)
		res, err := evaluate(ctx, fmt.Sprintf(axeRunJS, tagsJSON), true)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		if err := json.Unmarshal(res.Value, &out); err != nil {
			return fmt.Errorf("read the result %.200s: %w", res.Value, err)
		}
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("axe: decode violations: %w", err)
	}
	return vs, nil
}

// injectAxe evaluates axe's source in the page unless this version of axe is already there.
func injectAxe(ctx context.Context) error {
	res, err := evaluate(ctx, `typeof axe === "object" && axe !== null && axe.version === "`+AxeVersion+`"`, false)
	if err != nil {
		return fmt.Errorf("look for axe: %w", err)
	}
	if string(res.Value) == "true" {
		return nil
	}
	if _, err := evaluate(ctx, axeSource, false); err != nil {
		return fmt.Errorf("inject axe %s: %w", AxeVersion, err)
	}
	res, err = evaluate(ctx, `typeof axe === "object" && axe !== null ? axe.version : ""`, false)
	if err != nil {
		return fmt.Errorf("look for axe: %w", err)
	}
	if got := strings.Trim(string(res.Value), `"`); got != AxeVersion {
		return fmt.Errorf("axe %s injected, but the page reports axe version %q", AxeVersion, got)
	}
	return nil
}

// waitSettled waits until settleJS holds or axeSettleTimeout passes.
func waitSettled(ctx context.Context) {
	deadline := time.Now().Add(axeSettleTimeout)
	for {
		res, err := evaluate(ctx, settleJS, false)
		if err == nil && string(res.Value) == "true" || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// evaluate runs expression in the page and returns its value; a thrown exception is an error.
func evaluate(ctx context.Context, expression string, awaitPromise bool) (*runtime.RemoteObject, error) {
	res, exc, err := runtime.Evaluate(expression).
		WithReturnByValue(true).
		WithAwaitPromise(awaitPromise).
		Do(ctx)
	if err != nil {
		return nil, err
	}
	if exc != nil {
		return nil, errors.New(exceptionText(exc))
	}
	if res == nil {
		return nil, errors.New("no result")
	}
	return res, nil
}
