// Prints ordinary lines and Node errors: console.error of an error with a
// cause, and an uncaught exception.
console.log("2026-12-01T10:00:00Z info starting");
try { JSON.parse("{bad"); } catch (e) { console.error(new Error("wrapped", {cause: e})); }
console.log("2026-12-01T10:00:01Z info next");
function deep(n) { if (n == 0) throw new TypeError("boom"); deep(n-1); }
deep(3);
