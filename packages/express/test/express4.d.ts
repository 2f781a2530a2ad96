// `express4` is an npm alias of express@4 for the test matrix; its API is typed with express 5's types,
// which the tests only use for what both majors share.
declare module 'express4' {
  import express from 'express';
  export default express;
}
