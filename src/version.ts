// The tool version recorded in every instrumented module. Kept in step with package.json by
// test/project.test.ts.
export const VERSION = '0.1.0';
