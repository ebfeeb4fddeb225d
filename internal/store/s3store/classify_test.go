package s3store

import (
	"errors"
	"io/fs"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// apiError is an S3 answer as the SDK reports it.
func apiError(status int, code string) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	}}
}

// TestClassify: what each S3 answer means to the writer. A failed
// precondition is a race to look into (never retried); a conflicting
// conditional write in progress, throttling and server errors are
// retried; a missing key is fs.ErrNotExist.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status                  int
		code                    string
		precondition, transient bool
		missing                 bool
	}{
		{412, "PreconditionFailed", true, false, false},
		{409, "ConditionalRequestConflict", false, true, false},
		{503, "SlowDown", false, true, false},
		{500, "InternalError", false, true, false},
		{429, "", false, true, false},
		{404, "NoSuchKey", false, false, true},
		{403, "AccessDenied", false, false, false},
		{409, "BucketAlreadyExists", false, false, false},
	} {
		err := classify(apiError(tc.status, tc.code))
		if got := errors.Is(err, errPrecondition); got != tc.precondition {
			t.Errorf("%d %s: precondition %v, want %v (%v)", tc.status, tc.code, got, tc.precondition, err)
		}
		if got := transient(err); got != tc.transient {
			t.Errorf("%d %s: transient %v, want %v (%v)", tc.status, tc.code, got, tc.transient, err)
		}
		if got := errors.Is(err, fs.ErrNotExist); got != tc.missing {
			t.Errorf("%d %s: missing %v, want %v (%v)", tc.status, tc.code, got, tc.missing, err)
		}
	}
}
