package deadline

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var anchor = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)

func TestParseDeadline(t *testing.T) {
	want := time.Date(2026, 5, 20, 10, 15, 30, 0, time.UTC)
	tests := map[string]struct {
		value string
		want  time.Time
		err   string
	}{
		"RFC 3339 Z":                         {value: "2026-05-20T10:15:30Z", want: want},
		"RFC 3339 +00:00 (Python isoformat)": {value: "2026-05-20T10:15:30+00:00", want: want},
		"Python isoformat microseconds":      {value: "2026-05-20T10:15:30.123456+00:00", want: want.Add(123456 * time.Microsecond)},
		"positive offset":                    {value: "2026-05-20T12:15:30+02:00", want: want},
		"negative offset":                    {value: "2026-05-20T05:15:30-05:00", want: want},
		"half-hour offset":                   {value: "2026-05-20T15:45:30+05:30", want: want},
		"nanoseconds":                        {value: "2026-05-20T10:15:30.000000001Z", want: want.Add(1)},
		"one fraction digit":                 {value: "2026-05-20T10:15:30.5Z", want: want.Add(500 * time.Millisecond)},
		"space instead of T (str(datetime))": {value: "2026-05-20 10:15:30+00:00", want: want},
		"epoch seconds":                      {value: "1779272130", want: want},
		"epoch with fraction":                {value: "1779272130.5", want: want.Add(500 * time.Millisecond)},
		"epoch Python timestamp()":           {value: "1779272130.123456", want: want.Add(123456 * time.Microsecond)},
		"epoch finer than nanoseconds":       {value: "1779272130.0000000019", want: want.Add(1)},
		"epoch zero":                         {value: "0", want: time.Unix(0, 0).UTC()},

		"naive timestamp":              {value: "2026-05-20T10:15:30", err: "has no UTC offset"},
		"naive with fraction":          {value: "2026-05-20T10:15:30.123456", err: "has no UTC offset"},
		"offset without colon":         {value: "2026-05-20T10:15:30+0000", err: "not an RFC 3339"},
		"date only":                    {value: "2026-05-20", err: "neither"},
		"month 13":                     {value: "2026-13-20T10:15:30Z", err: "not an RFC 3339"},
		"hour 25":                      {value: "2026-05-20T25:15:30Z", err: "not an RFC 3339"},
		"leading space":                {value: " 2026-05-20T10:15:30Z", err: "whitespace"},
		"trailing newline":             {value: "2026-05-20T10:15:30Z\n", err: "whitespace"},
		"tab inside":                   {value: "2026-05-20\t10:15:30Z", err: "whitespace"},
		"non-ASCII digit":              {value: "2026-05-20T10:15:3٠Z", err: "non-ASCII"},
		"negative epoch":               {value: "-1779272130", err: "neither"},
		"epoch exponent":               {value: "1.77e9", err: "neither"},
		"epoch overflowing int64":      {value: "99999999999999999999", err: "too many digits"},
		"epoch milliseconds":           {value: "1779272130000", err: "epoch milliseconds"},
		"epoch microseconds":           {value: "1779272130000000.5", err: "epoch milliseconds or microseconds"},
		"epoch beyond time.Duration":   {value: "9999999999", err: "out of range"},
		"epoch trailing dot":           {value: "1779272130.", err: "neither"},
		"epoch with unit":              {value: "1779272130s", err: "neither"},
		"words":                        {value: "tomorrow", err: "neither"},
		"duration given as a deadline": {value: "30s", err: "neither"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := deadlineValue(tc.value)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := map[string]struct {
		value string
		want  time.Duration
		err   string
	}{
		"Go seconds":              {value: "30s", want: 30 * time.Second},
		"Go compound":             {value: "1h30m", want: 90 * time.Minute},
		"Go fractional hours":     {value: "1.5h", want: 90 * time.Minute},
		"Go milliseconds":         {value: "1500ms", want: 1500 * time.Millisecond},
		"plain seconds":           {value: "30", want: 30 * time.Second},
		"decimal seconds":         {value: "30.0", want: 30 * time.Second},
		"total_seconds() of 30m":  {value: "1800.0", want: 30 * time.Minute},
		"fractional seconds":      {value: "0.5", want: 500 * time.Millisecond},
		"ISO seconds":             {value: "PT30S", want: 30 * time.Second},
		"ISO day and hours":       {value: "P1DT2H", want: 26 * time.Hour},
		"ISO days only":           {value: "P2D", want: 48 * time.Hour},
		"ISO week":                {value: "P1W", want: 7 * 24 * time.Hour},
		"ISO all components":      {value: "P1DT1H1M1S", want: 25*time.Hour + time.Minute + time.Second},
		"ISO fractional seconds":  {value: "PT1.5S", want: 1500 * time.Millisecond},
		"ISO decimal comma":       {value: "PT1,5S", want: 1500 * time.Millisecond},
		"ISO fractional last":     {value: "PT1.5H", want: 90 * time.Minute},
		"timedelta seconds":       {value: "0:00:30", want: 30 * time.Second},
		"timedelta minutes":       {value: "0:30:00", want: 30 * time.Minute},
		"timedelta one day":       {value: "1 day, 0:00:05", want: 24*time.Hour + 5*time.Second},
		"timedelta days":          {value: "2 days, 1:00:00", want: 49 * time.Hour},
		"timedelta microseconds":  {value: "0:00:30.500000", want: 30*time.Second + 500*time.Millisecond},
		"timedelta hours over 24": {value: "36:00:00", want: 36 * time.Hour},
		"just under a year":       {value: "8760h", want: MaxBudget},

		"empty ISO":                     {value: "P", err: "not an ISO 8601"},
		"ISO T without time":            {value: "P1DT", err: "not an ISO 8601"},
		"ISO years":                     {value: "P1Y", err: "years and months"},
		"ISO months":                    {value: "P1M", err: "years and months"},
		"ISO lowercase":                 {value: "pt30s", err: "not a duration"},
		"ISO fraction not last":         {value: "PT1.5H30M", err: "fraction"},
		"ISO zero":                      {value: "PT0S", err: "not positive"},
		"ISO huge":                      {value: "PT99999999999999999999S", err: "more than a year"},
		"negative Go duration":          {value: "-30s", err: "negative"},
		"negative timedelta":            {value: "-1 day, 23:59:30", err: "negative"},
		"zero seconds":                  {value: "0", err: "not positive"},
		"zero Go duration":              {value: "0s", err: "not positive"},
		"zero timedelta":                {value: "0:00:00", err: "not positive"},
		"over a year":                   {value: "8761h", err: "more than a year"},
		"milliseconds as seconds":       {value: "1800000000", err: "more than a year"},
		"Go duration overflowing int64": {value: "9999999999999h", err: "out of range"},
		"seconds overflowing int64":     {value: "99999999999999999999", err: "out of range"},
		"timedelta huge days":           {value: "99999999999999999999 days, 0:00:00", err: "out of range"},
		"timedelta bad minutes":         {value: "0:60:00", err: "not a Python timedelta"},
		"timedelta missing comma":       {value: "1 day 0:00:05", err: "not a Python timedelta"},
		"timedelta no seconds":          {value: "0:30", err: "not a Python timedelta"},
		"unit only":                     {value: "s", err: "not a duration"},
		"word":                          {value: "thirty seconds", err: "not a duration"},
		"unknown unit":                  {value: "30sec", err: "not a duration"},
		"days as Go duration":           {value: "1d", err: "not a duration"},
		"leading space":                 {value: " 30s", err: "whitespace"},
		"trailing space":                {value: "30s ", err: "whitespace"},
		"inner tab":                     {value: "1h\t30m", err: "whitespace"},
		"NUL byte":                      {value: "30s\x00", err: "control"},
		"fullwidth digits":              {value: "３０s", err: "non-ASCII"},
		"exponent":                      {value: "3e1", err: "not a duration"},
		"hex":                           {value: "0x1e", err: "not a duration"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := timeoutValue(tc.value)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestResolve(t *testing.T) {
	k := NewKeys(DefaultPrefix)
	in := func(d time.Duration) time.Time { return anchor.Add(d) }
	tests := map[string]struct {
		annotations map[string]string
		want        Resolved
		none        bool
		errKeys     []string
	}{
		"no annotations":        {annotations: nil, none: true},
		"unrelated annotations": {annotations: map[string]string{"foo": "bar"}, none: true},
		"empty deadline means none": {
			annotations: map[string]string{k.Deadline: ""}, none: true},
		"empty both means none": {
			annotations: map[string]string{k.Deadline: "", k.Timeout: ""}, none: true},
		"deadline only": {
			annotations: map[string]string{k.Deadline: "2026-05-20T10:15:30Z"},
			want:        Resolved{At: in(15*time.Minute + 30*time.Second)}},
		"timeout only counts from the anchor": {
			annotations: map[string]string{k.Timeout: "30s"},
			want:        Resolved{At: in(30 * time.Second), FromTimeout: true}},
		"earlier deadline wins": {
			annotations: map[string]string{k.Deadline: "2026-05-20T10:00:10Z", k.Timeout: "30s"},
			want:        Resolved{At: in(10 * time.Second), FromTimeout: true}},
		"earlier timeout wins": {
			annotations: map[string]string{k.Deadline: "2026-05-20T11:00:00Z", k.Timeout: "30s"},
			want:        Resolved{At: in(30 * time.Second), FromTimeout: true}},
		"empty deadline with a timeout": {
			annotations: map[string]string{k.Deadline: "", k.Timeout: "PT1M"},
			want:        Resolved{At: in(time.Minute), FromTimeout: true}},
		"past deadline still resolves": {
			annotations: map[string]string{k.Deadline: "2026-05-20T09:00:00Z"},
			want:        Resolved{At: in(-time.Hour)}},
		"deadline over a year away": {
			annotations: map[string]string{k.Deadline: "1779272130000"}, errKeys: []string{k.Deadline}},
		"deadline over a year ago": {
			annotations: map[string]string{k.Deadline: "20260520"}, errKeys: []string{k.Deadline}},
		"both malformed reports both": {
			annotations: map[string]string{k.Deadline: "soon", k.Timeout: "long"}, errKeys: []string{k.Deadline, k.Timeout}},
		"other prefix is ignored": {
			annotations: map[string]string{"example.com/" + TimeoutName: "30s"}, none: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok, errs := k.Resolve(k.Values(tc.annotations), anchor)
			if tc.errKeys != nil {
				require.Len(t, errs, len(tc.errKeys))
				for i, key := range tc.errKeys {
					assert.Equal(t, key, errs[i].Key)
				}
				return
			}
			require.Empty(t, errs)
			if tc.none {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.True(t, tc.want.At.Equal(got.At), "got %s, want %s", got.At, tc.want.At)
			assert.Equal(t, tc.want.FromTimeout, got.FromTimeout)
		})
	}
}

func TestAnnotationErrorMessage(t *testing.T) {
	k := NewKeys("example.com")
	_, _, errs := k.Resolve(Values{Timeout: "30 seconds"}, anchor)
	require.Len(t, errs, 1)
	var ae *AnnotationError
	require.True(t, errors.As(error(errs[0]), &ae))
	msg := errs[0].Error()
	for _, want := range []string{"example.com/execution-timeout", `"30 seconds"`, "accepted forms", "PT30S", "0:00:30"} {
		assert.Contains(t, msg, want)
	}
}

func TestRemainingSeconds(t *testing.T) {
	tests := map[string]struct {
		left time.Duration
		want int64
	}{
		"exact seconds":        {left: 30 * time.Second, want: 30},
		"rounds up":            {left: 29*time.Second + time.Nanosecond, want: 30},
		"just below a second":  {left: 999 * time.Millisecond, want: 1},
		"one nanosecond":       {left: 1, want: 1},
		"exactly now":          {left: 0, want: 0},
		"passed":               {left: -1500 * time.Millisecond, want: -2},
		"passed by a fraction": {left: -1, want: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, RemainingSeconds(anchor.Add(tc.left), anchor))
		})
	}
}

func TestFormatLateness(t *testing.T) {
	assert.Equal(t, "0.0s", FormatLateness(0))
	assert.Equal(t, "1.2s", FormatLateness(1249*time.Millisecond))
	assert.Equal(t, "9.9s", FormatLateness(9900*time.Millisecond))
	assert.Equal(t, "12s", FormatLateness(12900*time.Millisecond))
	assert.Equal(t, "3600s", FormatLateness(time.Hour))
}

func TestValidatePrefix(t *testing.T) {
	require.NoError(t, ValidatePrefix(DefaultPrefix))
	require.NoError(t, ValidatePrefix("deadlines.example.com"))
	for _, bad := range []string{"", "Upper.io", "has space.io", "trailing.", "slash/io", strings.Repeat("a", 254)} {
		assert.Error(t, ValidatePrefix(bad), bad)
	}
}

func TestValidateInstance(t *testing.T) {
	for name, tc := range map[string]struct {
		name string
		ok   bool
	}{
		"the default":           {name: "default", ok: true},
		"one character":         {name: "a", ok: true},
		"every allowed kind":    {name: "Legacy_2.x-prod", ok: true},
		"63 characters":         {name: strings.Repeat("a", 63), ok: true},
		"64 characters":         {name: strings.Repeat("a", 64)},
		"empty":                 {name: ""},
		"a slash":               {name: "team/a"},
		"a comma":               {name: "a,b"},
		"a space":               {name: "a b"},
		"starts with a dot":     {name: ".hidden"},
		"ends with a dash":      {name: "prod-"},
		"a trailing newline":    {name: "prod\n"},
		"a non-ASCII letter":    {name: "pröd"},
		"only an allowed punct": {name: "_"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ValidateInstance(tc.name)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), strconv.Quote(tc.name))
			assert.Contains(t, err.Error(), InstancePattern)
		})
	}
}

func TestFormat(t *testing.T) {
	at := time.Date(2026, 5, 20, 12, 15, 30, 0, time.FixedZone("", 2*3600))
	assert.Equal(t, "2026-05-20T10:15:30Z", Format(at))
	assert.Equal(t, "2026-05-20T10:15:30.123Z", Format(at.Add(123*time.Millisecond)))
	// The stamped form parses back to the same instant.
	back, err := deadlineValue(Format(at.Add(1)))
	require.NoError(t, err)
	assert.True(t, back.Equal(at.Add(1)))
}

func TestValues(t *testing.T) {
	k := NewKeys(DefaultPrefix)
	v := k.Values(map[string]string{k.Deadline: "1779272130", k.Timeout: "30s", k.ClampedFrom: "unset", "other": "x"})
	assert.Equal(t, Values{Deadline: "1779272130", Timeout: "30s"}, v)
}

func TestCarries(t *testing.T) {
	k := NewKeys(DefaultPrefix)
	for name, tc := range map[string]struct {
		annotations map[string]string
		want        bool
	}{
		"none":                 {nil, false},
		"unrelated":            {map[string]string{"other": "x", k.ClampedFrom: "unset"}, false},
		"deadline":             {map[string]string{k.Deadline: "1779272130"}, true},
		"timeout":              {map[string]string{k.Timeout: "30s"}, true},
		"malformed still asks": {map[string]string{k.Timeout: "soon"}, true},
		// An empty value is no deadline, whether or not the key is there.
		"both empty":          {map[string]string{k.Deadline: "", k.Timeout: ""}, false},
		"empty and a timeout": {map[string]string{k.Deadline: "", k.Timeout: "30s"}, true},
		"another prefix":      {map[string]string{"other.example.com/execution-timeout": "30s"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, k.Carries(tc.annotations))
			// Resolve agrees: without a value there is nothing to resolve.
			_, ok, errs := k.Resolve(k.Values(tc.annotations), time.Unix(1779272100, 0))
			assert.Equal(t, tc.want, ok || len(errs) > 0)
		})
	}
}

func TestCreationAnchor(t *testing.T) {
	created := time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
	// The webhook admitted the pod somewhere within the creation second: a
	// timeout counted from the end of it is never earlier than the stamp.
	for _, admitted := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond} {
		assert.False(t, CreationAnchor(created).Before(created.Add(admitted).Truncate(time.Millisecond)))
	}
	assert.True(t, CreationAnchor(created).Before(created.Add(time.Second)))
}

// TestProtectedCoversEveryKey fails when a key is added to Keys without
// being made create-only.
func TestProtectedCoversEveryKey(t *testing.T) {
	k := NewKeys("p.example.com")
	protected := k.Protected()
	v := reflect.ValueOf(k)
	require.Equal(t, v.NumField(), len(protected), "one protected key per field of Keys")
	for i := range v.NumField() {
		assert.Contains(t, protected, v.Field(i).String(), "Keys.%s is not protected", v.Type().Field(i).Name)
	}
	for _, key := range protected {
		assert.True(t, strings.HasPrefix(key, "p.example.com/"), key)
	}
}

// timeoutValue and deadlineValue are parseTimeout and parseDeadline with the
// reason as an error, for the tests of the accepted forms.
func timeoutValue(v string) (time.Duration, error) {
	d, reason := parseTimeout(v)
	if reason != "" {
		return 0, errors.New(reason)
	}
	return d, nil
}

func deadlineValue(v string) (time.Time, error) {
	t, reason := parseDeadline(v)
	if reason != "" {
		return time.Time{}, errors.New(reason)
	}
	return t, nil
}
