package app_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/pageweight"
)

// loginPageBudget is issue 11's target for the login page's first visit: the HTML of GET / and every
// stylesheet, script and icon it loads, gzip as transferred, at most 25 KB (taken as 25,000 bytes, the
// stricter reading).
const loginPageBudget = 25_000

// The login page of the embedded provider, as a browser with an empty cache fetches it, stays within its
// budget. A size budget, not a timing: it fails the day a change makes the page heavier.
func TestLoginPageWeight(t *testing.T) {
	a, _ := mustStart(t, sqliteURL(t), nil)
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()

	w, err := pageweight.Measure(context.Background(), srv.Client(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("login page, first visit:\n%s", w)
	if got := w.Total(); got > loginPageBudget {
		t.Errorf("the login page's first visit is %d bytes gzip, over its budget of %d:\n%s", got, loginPageBudget, w)
	}
}
