package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
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
// run short. Frames are not entered (iframes: false): axe would wait for an axe inside each of them, and
// time out; [AxeFrames] runs axe in each frame instead.
const axeRunJS = `(async () => {
  const cut = (s, n) => { s = String(s || "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
  const r = await axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"], iframes: false});
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

// Axe runs axe-core on the document of ctx (its main frame, not the frames inside it: see [AxeFrames])
// and returns the rules it violates; an empty result means none. With no tags it runs [DefaultAxeTags].
// axe is injected with Runtime.evaluate when the page does not hold it yet; DevTools evaluation is not
// governed by the page's Content Security Policy, so a strict script-src does not block it, and axe
// itself loads nothing. It first waits (briefly) for running transitions to end, so emulated
// colour-scheme changes have taken effect.
func Axe(ctx context.Context, tags ...string) ([]Violation, error) {
	var vs []Violation
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		vs, err = axeIn(ctx, 0, tags)
		return err
	}))
	if err != nil {
		return nil, fmt.Errorf("axe: %w", err)
	}
	return vs, nil
}

// FrameViolations are the rules axe found violated in one frame.
type FrameViolations struct {
	URL        string // the frame's document
	Violations []Violation
}

// AxeFrames runs axe-core, as [Axe] does, in every frame inside the page of ctx (not the main document),
// each in an isolated world of its own: the frame's scripts, globals and Content Security Policy are
// left alone. It returns one entry per frame, in document order, violations or not. A frame is tested
// as it is: load lazy frames first (a frame not loaded yet shows about:blank). Frames from another
// site (out-of-process) cannot be entered and make it fail.
func AxeFrames(ctx context.Context, tags ...string) ([]FrameViolations, error) {
	var out []FrameViolations
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		tree, err := page.GetFrameTree().Do(ctx)
		if err != nil {
			return fmt.Errorf("frame tree: %w", err)
		}
		var frames []*cdp.Frame
		var walk func(children []*page.FrameTree)
		walk = func(children []*page.FrameTree) {
			for _, c := range children {
				frames = append(frames, c.Frame)
				walk(c.ChildFrames)
			}
		}
		walk(tree.ChildFrames)
		for _, f := range frames {
			url := f.URL + f.URLFragment
			world, err := page.CreateIsolatedWorld(f.ID).WithWorldName("browsertest-axe").Do(ctx)
			if err != nil {
				return fmt.Errorf("frame %s: isolated world: %w", url, err)
			}
			vs, err := axeIn(ctx, world, tags)
			if err != nil {
				return fmt.Errorf("frame %s: %w", url, err)
			}
			out = append(out, FrameViolations{URL: url, Violations: vs})
		}
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("axe in frames: %w", err)
	}
	return out, nil
}

// axeIn injects axe into the execution context world (0: the main frame's page context) if needed,
// waits for the page to settle and runs it.
func axeIn(ctx context.Context, world runtime.ExecutionContextID, tags []string) ([]Violation, error) {
	if len(tags) == 0 {
		tags = DefaultAxeTags()
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	if err := injectAxe(ctx, world); err != nil {
		return nil, err
	}
	waitSettled(ctx, world)
	res, err := evaluate(ctx, world, fmt.Sprintf(axeRunJS, tagsJSON), true)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	var out string
	if err := json.Unmarshal(res.Value, &out); err != nil {
		return nil, fmt.Errorf("read the result %.200s: %w", res.Value, err)
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("decode violations: %w", err)
	}
	return vs, nil
}

// injectAxe evaluates axe's source in world unless this version of axe is already there.
func injectAxe(ctx context.Context, world runtime.ExecutionContextID) error {
	res, err := evaluate(ctx, world, `typeof axe === "object" && axe !== null && axe.version === "`+AxeVersion+`"`, false)
	if err != nil {
		return fmt.Errorf("look for axe: %w", err)
	}
	if string(res.Value) == "true" {
		return nil
	}
	if _, err := evaluate(ctx, world, axeSource, false); err != nil {
		return fmt.Errorf("inject axe %s: %w", AxeVersion, err)
	}
	res, err = evaluate(ctx, world, `typeof axe === "object" && axe !== null ? axe.version : ""`, false)
	if err != nil {
		return fmt.Errorf("look for axe: %w", err)
	}
	if got := strings.Trim(string(res.Value), `"`); got != AxeVersion {
		return fmt.Errorf("axe %s injected, but the page reports axe version %q", AxeVersion, got)
	}
	return nil
}

// waitSettled waits until settleJS holds in world or axeSettleTimeout passes.
func waitSettled(ctx context.Context, world runtime.ExecutionContextID) {
	deadline := time.Now().Add(axeSettleTimeout)
	for {
		res, err := evaluate(ctx, world, settleJS, false)
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

// evaluate runs expression in world (0: the main frame's page context) and returns its value; a thrown
// exception is an error.
func evaluate(ctx context.Context, world runtime.ExecutionContextID, expression string, awaitPromise bool) (*runtime.RemoteObject, error) {
	p := runtime.Evaluate(expression).WithReturnByValue(true).WithAwaitPromise(awaitPromise)
	if world != 0 {
		p = p.WithContextID(world)
	}
	res, exc, err := p.Do(ctx)
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
