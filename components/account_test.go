package components

import "testing"

// TestAccountSections: a passkey's provider icon (a data: URI from the vendored AAGUID list) reaches the
// page unchanged, each action names its passkey or session by ID only, and the last passkey's deletion
// warns about recovery.
func TestAccountSections(t *testing.T) {
	const icon = "data:image/svg+xml;base64,PHN2Zy8+"
	v := AccountView{
		ManagePasskeys: true,
		Passkeys:       []PasskeyRow{{ID: "cred-1", Name: "Work laptop", Provider: "iCloud", Icon: icon, Created: "1 Dec 2026", LastUsed: "never"}},
		Deleting:       "cred-1",
		Sessions: []SessionRow{
			{ID: "pub-1", Device: "Chrome 131 on Windows", IP: "192.0.2.1", Current: true},
			{ID: "pub-2", Device: "Safari 18 on iPhone", IP: "192.0.2.2"},
		},
		Signal: &Signal{RPID: "localhost", UserID: "dXNyLTE", CredentialIDs: []string{"cred-1", "cred-2"}},
	}
	_, doc := render(t, AccountSections(v))
	if got := doc.Find(".provider-icon").AttrOr("src", ""); got != icon {
		t.Errorf("icon src = %q, want the data URI", got)
	}
	if doc.Find(`[data-testid="last-passkey-warning"]`).Length() != 1 {
		t.Error("deleting the only passkey shows no warning")
	}
	if got := doc.Find(`[data-passkey-signal]`).AttrOr("data-credential-ids", ""); got != "cred-1 cred-2" {
		t.Errorf("signal credential ids = %q", got)
	}
	// account.js (loaded by ui.js for content that says data-uses="account") signals the passkeys and
	// shows the Add button, which is hidden until then: it needs the script to work.
	if got := doc.Find(`[data-passkey-signal]`).AttrOr("data-uses", ""); got != "account" {
		t.Errorf("signal element data-uses = %q, want account", got)
	}
	add := doc.Find(`button[data-passkey="add"]`)
	if _, hidden := add.Attr("hidden"); add.Length() != 1 || !hidden || add.AttrOr("data-uses", "") != "account" {
		t.Errorf("Add a passkey: %d buttons, want one, hidden, data-uses=account", add.Length())
	}
	revokes := doc.Find(`form[action="/account/sessions/revoke"]`)
	if revokes.Length() != 1 || revokes.Find(`input[name="id"]`).AttrOr("value", "") != "pub-2" {
		t.Errorf("Revoke forms: %d, want one for the other session", revokes.Length())
	}
	if doc.Find(`button:contains("Log out everywhere else")`).Length() != 1 {
		t.Error("no Log out everywhere else button with two sessions")
	}
}
