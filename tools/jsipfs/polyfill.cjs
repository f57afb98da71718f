// Loaded with NODE_OPTIONS="--require .../polyfill.cjs": a dependency of js-ipfs 0.66 calls
// Promise.withResolvers (Node >= 22); on older Node the daemon would crash without it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}
