// The esbuild entry of the Uppy bundle the benchmark page loads (bench/run.mjs builds it into
// target/bench/dist/uppy.js): Uppy's core and its S3 multipart uploader, nothing else.
export { default as Uppy } from '@uppy/core';
export { default as AwsS3 } from '@uppy/aws-s3';
