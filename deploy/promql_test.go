package deploy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// selector is a metric selected by a PromQL expression, with its label
// matchers.
type selector struct {
	name     string
	matchers []matcher
}

type matcher struct {
	label, op, value string
}

// PromQL words that are not metric names when no "(" follows them.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "atan2": true,
}

// Aggregation operators take "by (...)" or "without (...)" before their
// parenthesis.
var promqlAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// promqlSelectors lists the metric selectors of a PromQL expression. It is
// a lexer, not a parser: enough to find every metric name (an identifier
// that is neither a function, an aggregation, a keyword nor a label in a
// grouping list) with its {matchers}, in the expressions of the alert rules
// and the dashboard. Grafana's $variables are allowed in ranges and values.
func promqlSelectors(expr string) ([]selector, error) {
	var sels []selector
	rs := []rune(expr)
	i := 0
	skipSpace := func() {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
	}
	// skipPast moves i past the closing rune, quote-aware.
	skipPast := func(close rune) error {
		start := i
		for i < len(rs) {
			switch r := rs[i]; {
			case r == '"' || r == '\'' || r == '`':
				if _, err := readString(rs, &i); err != nil {
					return err
				}
				continue
			case r == close:
				i++
				return nil
			}
			i++
		}
		return fmt.Errorf("unclosed %q opened at %d", close, start)
	}
	ident := func() string {
		start := i
		for i < len(rs) && (rs[i] == '_' || rs[i] == ':' || unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
			i++
		}
		return string(rs[start:i])
	}
	for i < len(rs) {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '"' || r == '\'' || r == '`':
			if _, err := readString(rs, &i); err != nil {
				return nil, err
			}
		case r == '[':
			i++
			if err := skipPast(']'); err != nil {
				return nil, err
			}
		case r == '{':
			return nil, fmt.Errorf("a selector without a metric name at %d", i)
		case unicode.IsDigit(r) || r == '.':
			for i < len(rs) && (rs[i] == '.' || rs[i] == '_' || unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
				i++
			}
		case r == '$':
			i++
			ident()
		case r == '_' || r == ':' || unicode.IsLetter(r):
			word := ident()
			skipSpace()
			next := rune(0)
			if i < len(rs) {
				next = rs[i]
			}
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right":
				if next == '(' {
					i++
					if err := skipPast(')'); err != nil {
						return nil, err
					}
				}
			case word == "offset":
				ident() // the duration
			case promqlKeywords[strings.ToLower(word)] || promqlAggregations[word]:
			case next == '(':
				// a function: its arguments are read by the loop
			default:
				s := selector{name: word}
				if next == '{' {
					i++
					ms, err := readMatchers(rs, &i)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", word, err)
					}
					s.matchers = ms
				}
				sels = append(sels, s)
			}
		default:
			i++
		}
	}
	return sels, nil
}

// readString reads a quoted string at rs[*i] and moves past it.
func readString(rs []rune, i *int) (string, error) {
	q := rs[*i]
	start := *i
	var b strings.Builder
	for *i++; *i < len(rs); *i++ {
		switch rs[*i] {
		case '\\':
			if q != '`' && *i+1 < len(rs) {
				*i++
				b.WriteRune(rs[*i])
				continue
			}
			b.WriteRune(rs[*i])
		case q:
			*i++
			return b.String(), nil
		default:
			b.WriteRune(rs[*i])
		}
	}
	return "", fmt.Errorf("unclosed string at %d", start)
}

// readMatchers reads label="value" pairs up to the closing brace.
func readMatchers(rs []rune, i *int) ([]matcher, error) {
	var ms []matcher
	for {
		for *i < len(rs) && (unicode.IsSpace(rs[*i]) || rs[*i] == ',') {
			*i++
		}
		if *i >= len(rs) {
			return nil, fmt.Errorf("unclosed {")
		}
		if rs[*i] == '}' {
			*i++
			return ms, nil
		}
		start := *i
		for *i < len(rs) && (rs[*i] == '_' || unicode.IsLetter(rs[*i]) || unicode.IsDigit(rs[*i])) {
			*i++
		}
		label := string(rs[start:*i])
		for *i < len(rs) && unicode.IsSpace(rs[*i]) {
			*i++
		}
		opStart := *i
		for *i < len(rs) && strings.ContainsRune("=!~", rs[*i]) {
			*i++
		}
		op := string(rs[opStart:*i])
		for *i < len(rs) && unicode.IsSpace(rs[*i]) {
			*i++
		}
		if label == "" || (op != "=" && op != "!=" && op != "=~" && op != "!~") || *i >= len(rs) || !strings.ContainsRune("\"'`", rs[*i]) {
			return nil, fmt.Errorf("bad label matcher at %d", start)
		}
		v, err := readString(rs, i)
		if err != nil {
			return nil, err
		}
		ms = append(ms, matcher{label: label, op: op, value: v})
	}
}

func TestPromQLSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []selector
		bad  bool
	}{
		{expr: `up == 0`, want: []selector{{name: "up"}}},
		{expr: `up{job=~".*liveorigin.*"} == 0`, want: []selector{{name: "up", matchers: []matcher{{"job", "=~", ".*liveorigin.*"}}}}},
		{
			expr: `sum by (job, instance, stream) (increase(liveorigin_ingest_frames_total[15m])) > 0
				unless on (job, instance, stream) sum by (stream) (rate(liveorigin_ingest_frames_total[1m])) > 0`,
			want: []selector{{name: "liveorigin_ingest_frames_total"}, {name: "liveorigin_ingest_frames_total"}},
		},
		{
			expr: `histogram_quantile(0.99, sum by (le, kind) (rate(liveorigin_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`,
			want: []selector{{name: "liveorigin_http_request_duration_seconds_bucket", matchers: []matcher{{"instance", "=~", "$instance"}}}},
		},
		{
			expr: `sum(rate(a_total{kind="x", code!~"5.."}[5m] offset 1h)) / ignoring (code) group_left (kind) b * 8 and bool c`,
			want: []selector{
				{name: "a_total", matchers: []matcher{{"kind", "=", "x"}, {"code", "!~", "5.."}}},
				{name: "b"}, {name: "c"},
			},
		},
		{expr: `max without (state) (x{s="a}b"}) # a comment naming_no_metric`, want: []selector{{name: "x", matchers: []matcher{{"s", "=", "a}b"}}}}},
		{expr: `{__name__="x"}`, bad: true},
		{expr: `x{kind="a"`, bad: true},
		{expr: `x{kind}`, bad: true},
		{expr: `rate(x[5m)`, bad: true},
	} {
		got, err := promqlSelectors(tc.expr)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error, want one (got %v)", tc.expr, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", tc.expr, got, err, tc.want)
		}
	}
}
