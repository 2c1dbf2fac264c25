package rtsp

import (
	"net/url"
	"sort"
	"strings"
)

// mask replaces a secret in what we print.
const mask = "xxxxx"

// redactor keeps the credentials of a camera URL out of logs, errors and
// the API. Camera URLs carry user:password and sometimes a token in the
// query; gortsplib's errors may quote the URL, so every string that leaves
// a pull source goes through redactor.text.
type redactor struct {
	shown   string   // the URL with the user, password and query values masked
	secrets []string // longest first, so that a secret inside another goes too
}

func newRedactor(u *url.URL) redactor {
	r := redactor{}
	var secrets []string
	shown := *u
	if u.User != nil {
		name := u.User.Username()
		pass, hasPass := u.User.Password()
		secrets = append(secrets, u.User.String(), name+":"+pass)
		if hasPass {
			secrets = append(secrets, pass, url.PathEscape(pass), url.QueryEscape(pass))
			shown.User = url.UserPassword(mask, mask)
		} else {
			shown.User = url.User(mask)
		}
	}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
		q := u.Query()
		for k, vs := range q {
			for i, v := range vs {
				if v != "" {
					secrets = append(secrets, v, url.QueryEscape(v))
				}
				vs[i] = mask
			}
			q[k] = vs
		}
		shown.RawQuery = q.Encode()
	}
	for _, s := range secrets {
		if s != "" && s != ":" {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	r.shown = shown.String() // the mask needs no escaping: it reads plainly
	return r
}

// url is the camera URL safe to print.
func (r redactor) url() string { return r.shown }

// text removes every secret from s.
func (r redactor) text(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, mask)
	}
	return s
}

// err is text for an error; "" for nil.
func (r redactor) err(err error) string {
	if err == nil {
		return ""
	}
	return r.text(err.Error())
}

// redactRaw masks the user information of a URL that did not parse, so
// that a configuration error never prints a password.
func redactRaw(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return newRedactor(u).url()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(unparsable URL)"
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		return scheme + "://" + mask + rest[at:]
	}
	return raw
}
