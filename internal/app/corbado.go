package app

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/verify"
)

// corbadoAuth verifies a Corbado session JWT against Corbado's JWKS and, when an API secret is set,
// completes the user's name and email from the Backend API once per login.
type corbadoAuth struct {
	log      *slog.Logger
	verifier *verify.Verifier
	client   *corbado.Client // nil without CORBADO_API_SECRET
}

func (c *corbadoAuth) Authenticate(ctx context.Context, raw string) (session.User, error) {
	id, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return session.User{}, err
	}
	u := session.User{ID: id.UserID, Name: id.Name, Email: id.Email}
	if c.client == nil {
		return u, nil
	}
	d, err := c.client.User(ctx, id.UserID)
	if err != nil {
		c.log.WarnContext(ctx, "Corbado Backend API failed; using the token's name and email", "user_id", id.UserID, "err", err)
		return u, nil
	}
	if d.FullName != "" {
		u.Name = d.FullName
	}
	if d.Email != "" {
		u.Email = d.Email
	}
	return u, nil
}

// corbadoDeps fills the handler dependencies of Corbado mode and returns the key set to keep fresh.
func (a *App) corbadoDeps(ctx context.Context, cfg config.Config, static interface{ URL(string) string }, deps *handlers.Deps) *verify.RemoteKeys {
	cc := cfg.Corbado
	keys := verify.NewRemoteKeys(verify.RemoteOptions{URL: corbado.JWKSURL(cc.FrontendAPI), Log: a.log})
	// Not fatal when it fails (RemoteKeys logs why): Corbado may be briefly unreachable, and logins fail
	// closed until the keys arrive.
	_ = keys.Refresh(ctx)
	auth := &corbadoAuth{log: a.log, verifier: verify.New(keys, verify.Options{Issuers: corbado.Issuers(cc.ProjectID, cc.FrontendAPI)})}
	if cc.APISecret != "" {
		auth.client = corbado.NewClient(cc.BackendAPI, cc.ProjectID, cc.APISecret, nil)
	}
	suffix := frontendSuffix(cc.ProjectID, cc.FrontendAPI)
	uiOrigin := "https://" + cc.ProjectID + ".frontendapi.corbado.io" // the bundle's default
	if suffix != "" {
		uiOrigin = "https://" + cc.ProjectID + "." + suffix
	}
	deps.Authenticator = auth
	deps.Corbado = &components.Corbado{
		ProjectID:      cc.ProjectID,
		FrontendSuffix: suffix,
		BundleURL:      static.URL("corbado-web-js.js"),
		StyleURL:       static.URL("corbado-web-js.css"),
		GlueURL:        static.URL("corbado.js"),
	}
	deps.ExtraCSP = handlers.CSPSources{
		Connect: dedupe(uiOrigin, cc.FrontendAPI),
		Img:     dedupe(uiOrigin, cc.FrontendAPI),
	}
	a.log.Info("Corbado mode", "project_id", cc.ProjectID, "frontend_api", cc.FrontendAPI,
		"backend_api", cc.BackendAPI, "api_secret_set", cc.APISecret != "")
	return keys
}

// frontendSuffix is Corbado.load's frontendApiUrlSuffix for a frontend API of the form
// https://{projectID}.{suffix}; "" when the URL has another shape (the bundle then uses its default).
func frontendSuffix(projectID, frontendAPI string) string {
	u, err := url.Parse(frontendAPI)
	if err != nil || u.Scheme != "https" || u.Port() != "" {
		return ""
	}
	rest, ok := strings.CutPrefix(u.Hostname(), strings.ToLower(projectID)+".")
	if !ok {
		return ""
	}
	return rest
}

func dedupe(items ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if it != "" && !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	return out
}
