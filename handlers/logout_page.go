package handlers

import (
	"net/http"

	"github.com/latchkey/latchkey/components"
)

// logoutPage answers GET /logout, for someone who typed the address: logging out changes state, so it
// happens only through the page's POST form (the same as the home page's); someone not logged in reads
// that they are logged out already, with a link to log in.
func (h *Handler) logoutPage(w http.ResponseWriter, r *http.Request) {
	v := components.LogoutView{Corbado: h.deps.Corbado}
	if u, ok := h.deps.Sessions.User(r.Context()); ok {
		v.LoggedIn, v.Name = true, u.Name
	}
	h.render(w, r, http.StatusOK, components.LogoutPage(h.page(r, v.Title()), v), components.LogoutFragment(v))
}
