package handlers

import (
	"fmt"

	"github.com/latchkey/latchkey/components"
)

// GalleryStates lists the component gallery's states, for the tests in handlers_test.
func GalleryStates() []components.GalleryState {
	var out []components.GalleryState
	for _, g := range galleryGroups() {
		for _, s := range g.states {
			out = append(out, s.GalleryState)
		}
	}
	return out
}

// GalleryWords maps each state slug that shows words the app says elsewhere to those words, as the Go
// string literal they are said with (the rate limit's is a format).
func GalleryWords() map[string]string {
	out := map[string]string{}
	for _, m := range galleryMessages() {
		out["login-error-"+m.slug] = m.words
	}
	out["login-error-rate-limited"] = galleryRateLimitWords
	out["login-no-javascript"] = galleryNoJavaScriptWords
	out["account-name-error"] = galleryNameTooLongWords
	for _, e := range galleryErrorPages() {
		out["error-"+e.slug] = e.v.Message
	}
	return out
}

// GalleryShown is what a state's page shows of those words.
func GalleryShown(slug, words string) string {
	if slug == "login-error-rate-limited" {
		return fmt.Sprintf(words, 20)
	}
	return words
}
