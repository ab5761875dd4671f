package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EmulateColorScheme makes the tab of ctx match (prefers-color-scheme: scheme), "light" or "dark", until
// it is called again. It replaces any other emulated media features (Emulation.setEmulatedMedia).
func EmulateColorScheme(ctx context.Context, scheme string) error {
	if scheme != "light" && scheme != "dark" {
		return fmt.Errorf("emulate colour scheme %q: want light or dark", scheme)
	}
	err := chromedp.Run(ctx, emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{
		{Name: "prefers-color-scheme", Value: scheme},
	}))
	if err != nil {
		return fmt.Errorf("emulate colour scheme %s: %w", scheme, err)
	}
	return nil
}

// SetViewport sizes the tab's viewport to width × height CSS pixels with a device scale factor of 1
// and no mobile emulation (Emulation.setDeviceMetricsOverride), so window.innerWidth is width and a
// screenshot is width pixels wide. It stays until called again.
func SetViewport(ctx context.Context, width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("set viewport %dx%d: sizes must be positive", width, height)
	}
	if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(int64(width), int64(height), 1, false)); err != nil {
		return fmt.Errorf("set viewport %dx%d: %w", width, height, err)
	}
	return nil
}

// Overflow is how the document's width compares with the viewport's.
type Overflow struct {
	ScrollWidth int      // document.documentElement.scrollWidth
	InnerWidth  int      // window.innerWidth
	Culprits    []string // up to 5 of the innermost elements reaching past the right edge, described
}

// Overflows reports whether the page scrolls sideways: scrollWidth > innerWidth.
func (o Overflow) Overflows() bool { return o.ScrollWidth > o.InnerWidth }

func (o Overflow) String() string {
	s := fmt.Sprintf("document is %d px wide in a %d px viewport", o.ScrollWidth, o.InnerWidth)
	if len(o.Culprits) > 0 {
		s += "; past the right edge: " + strings.Join(o.Culprits, "; ")
	}
	return s
}

// overflowJS measures the page after layout (two animation frames) and names the innermost elements
// whose box, or whose content spilling out of it, ends right of the viewport.
const overflowJS = `new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => {
  const vw = window.innerWidth;
  // An element reaches past the edge with its box, or with content spilling out of it (a long word).
  const reach = (el) => {
    const r = el.getBoundingClientRect();
    const spill = el.clientWidth > 0 && getComputedStyle(el).overflowX === "visible" ? r.left + el.scrollWidth : 0;
    return Math.max(r.right, spill);
  };
  const wide = [...document.body.querySelectorAll("*")].filter((el) => reach(el) > vw + 0.5);
  const innermost = wide.filter((el) => !wide.some((o) => o !== el && el.contains(o)));
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (typeof el.className === "string" && el.className.trim()) s += "." + el.className.trim().split(/\s+/).join(".");
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 40);
    return s + " (reaches " + Math.round(reach(el)) + " px" + (text ? ", " + JSON.stringify(text) : "") + ")";
  };
  resolve(JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: vw,
    culprits: innermost.slice(0, 5).map(describe),
  }));
})))`

// HorizontalOverflow measures whether the page of ctx is wider than its viewport.
func HorizontalOverflow(ctx context.Context) (Overflow, error) {
	var raw string
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		res, err := evaluate(ctx, 0, overflowJS, true)
		if err != nil {
			return err
		}
		return json.Unmarshal(res.Value, &raw)
	}))
	if err != nil {
		return Overflow{}, fmt.Errorf("measure horizontal overflow: %w", err)
	}
	var m struct {
		ScrollWidth int      `json:"scrollWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Culprits    []string `json:"culprits"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return Overflow{}, fmt.Errorf("measure horizontal overflow: %w", err)
	}
	return Overflow{ScrollWidth: m.ScrollWidth, InnerWidth: m.InnerWidth, Culprits: m.Culprits}, nil
}

// FullPageScreenshot saves a PNG of the whole page of ctx (beyond the viewport, at scale 1) to path,
// creating its directory, and returns the PNG's bytes. Like [Axe], it first waits (briefly) for running
// transitions to end, so a colour-scheme switch has finished.
func FullPageScreenshot(ctx context.Context, path string) ([]byte, error) {
	var png []byte
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		waitSettled(ctx, 0)
		_, _, _, _, _, content, err := page.GetLayoutMetrics().Do(ctx)
		if err != nil {
			return fmt.Errorf("layout metrics: %w", err)
		}
		if content == nil {
			return fmt.Errorf("layout metrics: no content size")
		}
		png, err = page.CaptureScreenshot().
			WithFormat(page.CaptureScreenshotFormatPng).
			WithCaptureBeyondViewport(true).
			WithFromSurface(true).
			WithClip(&page.Viewport{
				X: 0, Y: 0,
				Width:  math.Ceil(content.Width),
				Height: math.Ceil(content.Height),
				Scale:  1,
			}).
			Do(ctx)
		return err
	}))
	if err != nil {
		return nil, fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return nil, fmt.Errorf("screenshot %s: %w", path, err)
	}
	return png, nil
}
