// `express4` is an npm alias of express@4, installed to run the HTTP suite on Express 4
// as well as 5. Its API surface used by the tests is the same as Express 5's types.
declare module "express4" {
  import type express from "express";

  const express4: typeof express;
  export default express4;
}
