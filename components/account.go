package components

// AccountView is the account part of the home page: passkeys (embedded provider), sessions and recent
// activity. Every string is ready to show; components only lay it out.
type AccountView struct {
	ManagePasskeys bool         // the embedded provider: passkeys are listed and managed here
	Passkeys       []PasskeyRow // oldest first
	Renaming       string       // ID of the passkey whose rename form is open
	Deleting       string       // ID of the passkey whose delete confirmation is open
	DisplayName    string       // the person's name, in the name form
	NameError      string       // why the new name was refused
	Sessions       []SessionRow // most recently seen first; the current one is marked
	Activity       []ActivityRow
	Signal         *Signal // what the page tells the password manager (WebAuthn Signal API)
	RecoveryCodes  bool    // the Recovery codes section (making a new set) is shown
}

// PasskeyRow is one passkey of the person.
type PasskeyRow struct {
	ID           string // base64url credential ID
	Name         string // the person's name for it, or its provider's
	Provider     string // from the AAGUID list, e.g. "Google Password Manager"; "" when unknown
	Icon         string // data: URI from the AAGUID list (checked to be an SVG or PNG image there), or ""
	Synced       bool   // backed up (a synced passkey) rather than bound to one device
	Created      string // "2 Dec 2026"
	LastUsed     string // "2 Dec 2026, 01:15 UTC" or "Never"
	CloneWarning string // when its sign count went backwards, or ""
}

// SessionRow is one place the person is logged in.
type SessionRow struct {
	ID       string // public ID
	Device   string // "Chrome 131 on Windows"
	IP       string
	Created  string
	LastSeen string
	Current  bool // this device
}

// ActivityRow is one activity log entry.
type ActivityRow struct {
	When   string
	What   string
	Detail string
	IP     string
	Device string
}

// Signal is what passkeys.js passes to the WebAuthn Signal API on the account page: the passkeys this site
// still accepts and the person's current details.
type Signal struct {
	RPID          string
	UserID        string   // base64url user handle
	CredentialIDs []string // base64url
	Name          string   // the user name the passkey shows (the email)
	DisplayName   string
}

// lastPasskey reports whether the account has exactly one passkey (deleting it needs a stronger warning).
func (v AccountView) lastPasskey() bool { return len(v.Passkeys) == 1 }

// signalIDs is the credential IDs, space-separated, for a data attribute.
func (s Signal) signalIDs() string {
	out := ""
	for i, id := range s.CredentialIDs {
		if i > 0 {
			out += " "
		}
		out += id
	}
	return out
}
