declare module 'espeak-ng';
declare module 'onnxruntime-node';
