package components

import "github.com/a-h/templ"

// GalleryPath is where the component gallery lives (dev mode only): the index at GalleryPath, each
// state's page at GalleryPath + "/" + slug + "?theme=light|dark".
const GalleryPath = "/dev/components"

// GalleryView is the component gallery's index: every state of every component, each shown twice side
// by side — light on the left, forced dark on the right — as its own page in an iframe, so each state is
// a whole document (no duplicate ids, its own title) and can be opened on its own.
type GalleryView struct {
	CSSURL string // gallery.css: the gallery's own layout (app.css comes from the Page)
	JSURL  string // gallery.js: sizes each frame to the height of its page
	Groups []GalleryGroup
}

// GalleryGroup is one component with its states.
type GalleryGroup struct {
	Name   string // e.g. "Log in"
	ID     string // fragment id of the group's section, e.g. "login"
	States []GalleryState
}

// GalleryState is one state of a component.
type GalleryState struct {
	Slug      string // URL segment and anchor, e.g. "login-busy"
	Title     string // what the state shows, e.g. "Busy: waiting for the passkey"
	Component string // the templ component, e.g. "LoginFragment"
	File      string // the file it is in, e.g. "components/login.templ"
}

// Source is the state's component and file: "LoginFragment — components/login.templ".
func (s GalleryState) Source() string { return s.Component + " — " + s.File }

// FrameURL is the URL of the state's page in a theme ("light" or "dark").
func (s GalleryState) FrameURL(theme string) templ.SafeURL {
	return templ.SafeURL(GalleryPath + "/" + s.Slug + "?theme=" + theme)
}

// Count is the number of states in all groups.
func (v GalleryView) Count() int {
	n := 0
	for _, g := range v.Groups {
		n += len(g.States)
	}
	return n
}
