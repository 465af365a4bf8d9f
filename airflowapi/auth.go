package airflowapi

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Credential file names in Config.CredentialsDir (the keys of the Secret).
const (
	UsernameFile = "username"
	PasswordFile = "password"
)

// credentials reads the username and password files. They are read again
// each time, so a rotated Secret is picked up without a restart.
func (c *Client) credentials() (user, pass string, err error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(c.cfg.CredentialsDir, name))
		if err != nil {
			return "", err
		}
		// A Secret made with `echo` has a trailing newline.
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if user, err = read(UsernameFile); err != nil {
		return "", "", &Error{Kind: KindAuth, Op: "credentials", Err: err}
	}
	if pass, err = read(PasswordFile); err != nil {
		return "", "", &Error{Kind: KindAuth, Op: "credentials", Err: err}
	}
	if user == "" {
		return "", "", &Error{Kind: KindAuth, Op: "credentials", Err: errors.New("empty username")}
	}
	return user, pass, nil
}

// authorize sets the request's Authorization: basic auth on v1, the bearer
// token on v2 (fetched first when there is none).
func (c *Client) authorize(ctx context.Context, req *http.Request) error {
	if c.cfg.Version == V1 {
		user, pass, err := c.credentials()
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, pass)
		return nil
	}
	token, err := c.bearer(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// bearer returns the cached v2 token or fetches one: POST {URL}/auth/token
// with {"username", "password"}, answered 201 {"access_token"} (the simple
// auth manager's LoginBody/LoginResponse; the FAB auth manager's /auth/token
// takes and answers the same).
func (c *Client) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	if token != "" {
		return token, nil
	}
	user, pass, err := c.credentials()
	if err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.send(ctx, "token", http.MethodPost, c.tokenURL(), map[string]string{"username": user, "password": pass}, &out, false); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", &Error{Kind: KindParse, Op: "token", Err: errors.New("no access_token in the answer")}
	}
	c.mu.Lock()
	c.token = out.AccessToken
	c.mu.Unlock()
	return out.AccessToken, nil
}

func (c *Client) dropToken() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// tokenURL is /auth/token at the root of the API server, beside /api/v2.
func (c *Client) tokenURL() string { return c.base.String() + "/auth/token" }
