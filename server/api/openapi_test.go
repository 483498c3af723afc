package api_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkOpenAPI checks docs/openapi.yaml against what TestRoutes served: the
// document parses and validates as OpenAPI 3; every operation in it was
// served with a success and an error; every route served is documented;
// and every status a route answered is among its documented responses.
func checkOpenAPI(t *testing.T, cov *coverage) {
	doc, err := openapi3.NewLoader().LoadFromFile("../../docs/openapi.yaml")
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	cov.mu.Lock()
	defer cov.mu.Unlock()
	for _, pattern := range slices.Sorted(func(yield func(string) bool) {
		for p := range documented {
			if !yield(p) {
				return
			}
		}
	}) {
		op := documented[pattern]
		seen := cov.seen[pattern]
		ok, bad := false, false
		for status := range seen {
			ok = ok || status/100 == 2
			bad = bad || status/100 == 4
			assert.NotNil(t, op.Responses.Status(status), "%s answered %d, which docs/openapi.yaml does not list", pattern, status)
		}
		assert.True(t, ok, "%s: documented but never served with a success by the tests", pattern)
		assert.True(t, bad, "%s: documented but its errors never tested", pattern)
	}
	for pattern := range cov.seen {
		_, ok := documented[pattern]
		assert.True(t, ok, "%s is served but not in docs/openapi.yaml", pattern)
	}
	// Every route answers 401 without a key (checked before routing) as documented.
	for pattern, op := range documented {
		assert.NotNil(t, op.Responses.Status(http.StatusUnauthorized), "%s does not document 401", pattern)
		for code := range op.Responses.Map() {
			_, err := strconv.Atoi(code)
			assert.NoError(t, err, "%s: response %q", pattern, code)
		}
		assert.True(t, strings.HasPrefix(strings.SplitN(pattern, " ", 2)[1], "/api/v1/"), pattern)
	}
}
