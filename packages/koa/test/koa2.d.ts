// `koa2` is an npm alias of koa@2 for the test matrix; its API is typed with koa 3's types, which the
// tests only use for what both majors share.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
