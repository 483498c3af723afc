package jsbridge

import (
	"syscall/js"
)

// Promise returns a JavaScript Promise settled by run, which runs on its own
// goroutine: it resolves with js.ValueOf(v) (undefined for nil) or rejects with the RtmError for
// the error. The call returns at once, so it may be made from a js.Func.
func (k *Kit) Promise(run func() (any, error)) js.Value {
	var resolve, reject js.Value
	exec := k.funcOf(func(_ js.Value, args []js.Value) any {
		resolve, reject = args[0], args[1]
		return nil
	})
	p := jsPromise.New(exec)
	k.release(exec)
	go func() {
		v, err := run()
		if err != nil {
			reject.Invoke(ErrorToJS(err))
			return
		}
		if v == nil {
			resolve.Invoke()
			return
		}
		resolve.Invoke(v)
	}()
	return p
}

// rejected returns a Promise already rejected with err's RtmError.
func (k *Kit) rejected(err error) js.Value {
	return jsPromise.Call("reject", ErrorToJS(err))
}

// resolved returns a Promise already resolved with undefined.
func (k *Kit) resolved() js.Value { return jsPromise.Call("resolve") }
